"""The order files are read in, so that one log's lines reach the daemon in order.

Each tracked file has a rank (its place in its stream, a rotated copy before the live file);
a file waits while an older file of its stream still has lines to send.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from logmarket.tail.files import TrackedFile

__all__ = [
    "by_stream",
    "newer_rotated",
    "older_unread",
    "outdated_originals",
    "read_order",
    "unread",
]


def read_order(files: dict[str, TrackedFile], fid: str) -> tuple[float, int]:
    """Sort key of a file id: rank, then age (ids grow)."""
    tf = files.get(fid)
    return (tf.mark.rank if tf is not None else 0.0, int(fid[1:]))


def unread(t: TrackedFile) -> bool:
    """Whether a file still holds lines not yet sent (held, unread, or not yet judged)."""
    if t.assembler.pending or (t.fresh and t.seen_size > 0):
        return True
    size = t.size if t.size >= 0 or t.fd is None else os.fstat(t.fd).st_size
    return size > t.pos


def newer_rotated(tf: TrackedFile, stream: Iterable[TrackedFile]) -> bool:
    """Whether a rotated file of ``tf``'s stream, ranked after it, has lines to send."""
    key = (tf.mark.rank, int(tf.id[1:]))
    return any(
        t is not tf
        and (t.mark.rank, int(t.id[1:])) > key
        and t.mark.path != t.mark.stream
        and unread(t)
        for t in stream
    )


def older_unread(tf: TrackedFile, stream: Iterable[TrackedFile]) -> bool:
    """Whether an older file of ``tf``'s stream still holds lines not yet sent."""
    key = (tf.mark.rank, int(tf.id[1:]))
    for t in stream:
        if t is tf or (t.mark.rank, int(t.id[1:])) > key:
            continue
        if unread(t):
            return True
    return False


def by_stream(files: Iterable[TrackedFile]) -> dict[str, list[TrackedFile]]:
    """The readable files of each stream (held-back copies excluded)."""
    streams: dict[str, list[TrackedFile]] = {}
    for t in files:
        if t.fd is not None and not t.retired and t.mark.twin_of is None:
            streams.setdefault(t.mark.stream, []).append(t)
    return streams


def outdated_originals(files: dict[str, TrackedFile]) -> list[TrackedFile]:
    """Live files with a copy held back whose content was replaced since (``copytruncate``
    went on): each copy is now a rotated generation, older than anything rotated after it,
    so its original must be retired (and the copy read) before the stream goes on."""
    out: list[TrackedFile] = []
    for t in files.values():
        if t.mark.twin_of is None:
            continue
        orig = files.get(t.mark.twin_of)
        if orig is None or orig.fd is None or orig.retired or orig in out:
            continue
        if orig.head_changed() or orig.stat_size() < orig.pos:
            out.append(orig)
    return out

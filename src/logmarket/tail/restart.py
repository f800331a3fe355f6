"""After a restart: finding again, under any name in the watched directories, everything the
tailer had not finished, and what was written while it was down.

* A checkpointed file is found by its device+inode wherever it went (``app.log`` renamed to
  ``app.log.1`` does not match ``*.log`` any more; it is still read to its end).
* Content the checkpoint knows but that is no longer in its inode (``copytruncate``, a
  rotated file compressed and deleted) is found by its first bytes in any file of the
  watched directories, a ``.gz`` included, and read from the remembered offset.
* A file no tailer has seen, changed after the checkpoint was saved, whose name is a
  rotation of a watched log (``app.log.3``, ``app.log.2.gz``), was written while the tailer
  was down: it is read from its start (unless it turns out to be a copy: see
  ``Tracker.classify``).
* Then each log's files are put in the order their content was written (their mtimes; the
  live file last), so that its lines reach the daemon in order.

All of this judges names and first bytes, so it is done while no rotation is moving them:
the tailer waits until the watched directories are still (:func:`settle`), and does it again
if they moved before it finished (:func:`snapshot` differs), since a copy compressed or
renamed halfway through the judging would be judged twice, or not at all.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from logmarket.tail.checkpoint import FileMark
from logmarket.tail.files import TrackedFile
from logmarket.tail.identity import Head, read_head
from logmarket.tail.order import by_stream
from logmarket.tail.sources import gz_head, is_gz, list_roots, open_source, unrotated

if TYPE_CHECKING:
    from logmarket.tail.tracker import Tracker

__all__ = ["adopt_unseen", "find_copy", "locate", "order_by_age", "settle", "snapshot"]

log = logging.getLogger("logmarket.tail")


def adopt_unseen(
    tracker: Tracker, found: dict[str, os.stat_result], since: float
) -> list[TrackedFile]:
    """Adopt, from their start, the files written while no tailer looked (see above)."""
    streams = set(found) | {t.mark.stream for t in tracker.files.values()}
    out: list[TrackedFile] = []
    listing = tracker.listing(*streams)
    for path, st in sorted(listing.items(), key=lambda item: item[1].st_mtime_ns):
        if path in found or (st.st_dev, st.st_ino) in tracker.by_inode:
            continue
        if st.st_mtime <= since or st.st_size == 0:
            continue  # there before the checkpoint was saved: not ours, or read already
        stream = unrotated(path)
        if stream == path or stream not in streams or not tracker.rules.wanted(stream):
            continue
        got = open_source(path, gz=is_gz(path), start=0, spool_dir=tracker.spool_dir)
        if got is None:
            continue
        fd, st = got
        tf = tracker.new_file(path, st, fd, 0, stream)
        tf.mark.gz = is_gz(path)
        tf.fresh = True  # a copy of a file we know is held back, not read twice
        tf.gone = True  # not at a watched path: read to its end, then closed
        tracker.stats["files_found_after_restart"] += 1
        log.debug("unseen file %s %s (stream %s) read from 0", tf.id, path, stream)
        out.append(tf)
    return out


def find_copy(
    tracker: Tracker, mark: FileMark, start: int, end: int, *, tracked: bool = False
) -> tuple[str, int, os.stat_result, bool] | None:
    """A file of the watched directories holding ``mark``'s content up to ``end`` at least
    (same first bytes): ``(path, descriptor from start, stat, gz)``. Only files not
    tracked, unless ``tracked`` (bytes to read once, not a file to follow)."""
    if mark.head_len == 0:
        return None
    head = Head(mark.head_len, mark.head)
    base = os.path.basename(mark.stream)
    listing = tracker.listing(mark.path)

    def likely(path: str) -> tuple[bool, bool, int]:
        # The usual place first: the newest rotation of the same log's name, uncompressed.
        st = listing[path]
        return (not os.path.basename(path).startswith(base), is_gz(path), -st.st_mtime_ns)

    for path in sorted(listing, key=likely):
        st = listing[path]
        gz = is_gz(path)
        # The file itself is no copy of itself; a file of the other kind (plain or .gz) that
        # holds its inode is: the compressed copy took the inode the deleted file freed.
        if (st.st_dev, st.st_ino) == (mark.dev, mark.ino):
            if gz == mark.gz:
                continue
        elif not tracked and (st.st_dev, st.st_ino) in tracker.by_inode:
            continue
        if gz:
            first = gz_head(path, mark.head_len)
            if first is None or not head.matches(first):
                continue
        elif st.st_size < end:
            continue
        got = open_source(path, gz=gz, start=start, spool_dir=tracker.spool_dir)
        if got is None:
            continue
        fd, st = got
        if os.fstat(fd).st_size >= end and head.matches(read_head(fd, mark.head_len)):
            return path, fd, st, gz
        os.close(fd)
    return None


def locate(tracker: Tracker, mark: FileMark, start: int, end: int) -> int | None:
    """A descriptor holding the bytes ``[start, end)`` of a checkpointed file, to rebuild a
    batch: the file itself (by inode, under any name in the watched directories), or a copy
    of it (same first bytes, long enough; a ``.gz`` too)."""
    for path, st in tracker.listing(mark.path).items():
        if (st.st_dev, st.st_ino) != (mark.dev, mark.ino) or is_gz(path) != mark.gz:
            continue  # another file, or its inode reused by the other kind (see _find_moved)
        got = open_source(path, gz=mark.gz, start=start, spool_dir=tracker.spool_dir)
        if got is None:
            continue
        fd = got[0]
        size = os.fstat(fd).st_size
        if size >= end and (mark.head_len == 0 or _same_head(fd, mark)):
            return fd
        os.close(fd)
    # Any file, tracked or not: the inode of a file deleted while we were down may have
    # been taken by the copy that holds these bytes.
    copy = find_copy(tracker, mark, start, end, tracked=True)
    return copy[1] if copy is not None else None


def _same_head(fd: int, mark: FileMark) -> bool:
    return Head(mark.head_len, mark.head).matches(read_head(fd, mark.head_len))


def order_by_age(files: Iterable[TrackedFile], base: float) -> None:
    """Rank each log's readable files by when their content was last written (ties: a
    rotated file before the live one), all after ``base``."""
    for group in by_stream(files).values():
        group.sort(key=_age)
        for i, t in enumerate(group):
            t.mark.rank = base + (i + 1) / (len(group) + 1)


def _age(t: TrackedFile) -> tuple[int, bool, float]:
    assert t.fd is not None
    return (os.fstat(t.fd).st_mtime_ns, t.mark.path == t.mark.stream, t.mark.rank)


Snapshot = dict[str, tuple[int, int, int]]


def snapshot(roots: list[tuple[str, bool]]) -> Snapshot:
    """What a rotation changes in the watched directories: each file's name and inode, and
    the size of each rotated one (``app.log.1`` still being copied, ``app.log.2.gz`` still
    being compressed). A live log's size is left out: it grows all the time."""
    return {
        path: (st.st_dev, st.st_ino, -1 if unrotated(path) == path else st.st_size)
        for path, st in list_roots(roots).items()
    }


def settle(
    roots: list[tuple[str, bool]],
    *,
    quiet: float = 0.15,
    limit: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> Snapshot:
    """Wait until no rotation is moving files in ``roots``: two snapshots ``quiet`` seconds
    apart are the same (at most ``limit`` seconds; then the last one is taken as it is)."""
    deadline = time.monotonic() + limit
    last = snapshot(roots)
    while time.monotonic() < deadline:
        sleep(quiet)
        now = snapshot(roots)
        if now == last:
            return now
        last = now
    log.warning("watched files still moving after %.0f s; reading them as they are", limit)
    return last

"""Where a file's bytes can be found again: every file of the watched directories (whatever
its name), and the content of a gzip file (a rotation logrotate's ``compress`` got to).

A ``.gz`` is read through a *spool*: an unlinked temporary file holding its decompressed
first bytes (for the fingerprint) and everything from the offset asked for on, at their own
offsets (the part in between is a hole, it takes no space). A spool is a plain descriptor:
the tracked-file machinery reads it like any file, and once read to its end it counts as
deleted (it has no name), so it is closed.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import tempfile
import zlib

from logmarket.tail.files import open_file
from logmarket.tail.identity import FP_BYTES

__all__ = ["gz_head", "is_gz", "line_start", "list_roots", "open_source", "unrotated"]

_CHUNK = 1 << 20

# What rotation appends to a log's name: app.log.1, app.log-20240101, app.log.2024-01-01
_ROTATED = re.compile(r"(?:\.\d{1,4}|[-.]\d{8,14}|[-.]\d{4}-\d\d-\d\d(?:[-_T.]?[\d:]+)?)$")


def is_gz(path: str) -> bool:
    return path.endswith(".gz")


def unrotated(path: str) -> str:
    """The name a rotated file had before rotation (``app.log.1``, ``app.log.2.gz`` ->
    ``app.log``)."""
    return _ROTATED.sub("", path.removesuffix(".gz"))


def line_start(fd: int, offset: int, window: int = 64 * 1024) -> int:
    """The start of the line ``offset`` falls in (``offset`` itself if one starts there)."""
    if offset <= 0:
        return 0
    lo = max(0, offset - window)
    data = os.pread(fd, offset - lo, lo)
    nl = data.rfind(b"\n")
    return lo + nl + 1 if nl >= 0 else lo


def list_roots(roots: list[tuple[str, bool]]) -> dict[str, os.stat_result]:
    """Every regular file in the watched directories, whatever its name, with its ``lstat``."""
    found: dict[str, os.stat_result] = {}
    for root, recursive in roots:
        stack = [root]
        while stack:
            d = stack.pop()
            try:
                entries = list(os.scandir(d))
            except OSError:
                continue
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False):
                        if recursive:
                            stack.append(e.path)
                        continue
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISREG(st.st_mode):
                    found.setdefault(e.path, st)
    return found


def gz_head(path: str, length: int = FP_BYTES) -> bytes | None:
    """The first ``length`` decompressed bytes of a gzip file; None if it is not one (yet)."""
    try:
        with gzip.open(path, "rb") as f:
            return f.read(length)
    except (OSError, EOFError, zlib.error):
        return None


def open_source(
    path: str, *, gz: bool, start: int, spool_dir: str | None
) -> tuple[int, os.stat_result] | None:
    """A descriptor of ``path``'s content and the ``stat`` of ``path`` itself: the file, or
    for a gzip file a spool of its decompressed content holding the first bytes and
    everything from ``start`` on. None if it is gone, unreadable, or a gzip file not
    complete yet (still being written)."""
    fd = open_file(path)
    if fd is None:
        return None
    st = os.fstat(fd)
    if not gz:
        return fd, st
    try:
        spool = _spool(fd, st, start, spool_dir)
    finally:
        os.close(fd)
    return None if spool is None else (spool, st)


def _spool(src: int, st: os.stat_result, start: int, spool_dir: str | None) -> int | None:
    out = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - its descriptor outlives it
    fd = os.dup(out.fileno())
    out.close()
    pos = 0
    try:
        with os.fdopen(os.dup(src), "rb") as raw, gzip.GzipFile(fileobj=raw, mode="rb") as z:
            while data := z.read(_CHUNK):
                end = pos + len(data)
                if pos < FP_BYTES:
                    os.pwrite(fd, data[: FP_BYTES - pos], pos)
                if end > start:
                    cut = max(0, start - pos)
                    os.pwrite(fd, data[cut:], pos + cut)
                pos = end
        os.ftruncate(fd, pos)  # the length of the whole content, holes included
        # The spool carries the gzip file's times: they tell how old its content is.
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
    except (OSError, EOFError, zlib.error):
        os.close(fd)
        return None
    return fd

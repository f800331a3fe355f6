"""Cutting bytes read from a file into lines, with their end offsets.

A line ends at ``\\n`` (a ``\\r`` before it is dropped). The last bytes of a read that have no
newline yet are not consumed: they wait for the rest of their line, unless ``flush`` says to
take them anyway (the writer has been silent for the flush timeout) - such a record is marked
``partial``. A line longer than ``max_line`` bytes is cut into pieces of at most that size
(at a UTF-8 character boundary), every piece but the last marked ``split``. Bytes that are not
UTF-8 are replaced by U+FFFD and the line is marked ``invalid``.
"""

from __future__ import annotations

__all__ = ["INVALID", "PARTIAL", "SPLIT", "Line", "split_lines"]

SPLIT = 1  # the line goes on in the next record
PARTIAL = 2  # no newline (yet): flushed by timeout or end of a range
INVALID = 4  # bytes that were not UTF-8 were replaced

Line = tuple[str, int, int]  # text, end offset in the file (exclusive), flags


def _decode(raw: bytes) -> tuple[str, int]:
    try:
        return raw.decode("utf-8"), 0
    except UnicodeDecodeError:
        return raw.decode("utf-8", "replace"), INVALID


def _char_boundary(buf: bytes, cut: int, floor: int) -> int:
    """Move ``cut`` back (at most 3 bytes) so it does not fall inside a UTF-8 character."""
    back = cut
    while back > floor and back > cut - 4 and (buf[back] & 0xC0) == 0x80:
        back -= 1
    return back if back > floor else cut


def split_lines(buf: bytes, base: int, max_line: int, *, flush: bool) -> tuple[list[Line], int]:
    """The lines in ``buf`` (which starts at file offset ``base``), and the bytes consumed."""
    out: list[Line] = []
    last_nl = buf.rfind(b"\n")
    complete = buf[: last_nl + 1]
    parts = complete.decode("ascii").split("\n")[:-1] if complete.isascii() else None
    if parts is not None and (not parts or max(map(len, parts)) <= max_line):
        # Fast path (most logs): ASCII, so characters are bytes and offsets add up directly.
        pos = base
        for text in parts:
            pos += len(text) + 1
            out.append((text[:-1] if text.endswith("\r") else text, pos, 0))
        consumed = len(complete)
    else:
        start = 0
        while start <= last_nl:
            nl = buf.index(b"\n", start)
            start = _take(buf, start, nl, base, max_line, out, newline=True)
        consumed = start
    rest = len(buf) - consumed
    while rest > max_line or (flush and rest > 0):
        # No newline in sight: an over-long line's next piece, or a flushed partial line.
        mark = SPLIT if rest > max_line else PARTIAL
        end = consumed + min(rest, max_line)
        if mark == SPLIT:
            end = _char_boundary(buf, end, consumed)
        text, flags = _decode(buf[consumed:end])
        out.append((text, base + end, flags | mark))
        consumed = end
        rest = len(buf) - consumed
    return out, consumed


def _take(
    buf: bytes, start: int, end: int, base: int, max_line: int, out: list[Line], *, newline: bool
) -> int:
    """Append the line ``buf[start:end]`` (split if over-long); returns the next start."""
    while end - start > max_line:
        cut = _char_boundary(buf, start + max_line, start)
        text, flags = _decode(buf[start:cut])
        out.append((text, base + cut, flags | SPLIT))
        start = cut
    raw = buf[start:end]
    if newline and raw.endswith(b"\r"):
        raw = raw[:-1]
    text, flags = _decode(raw)
    nxt = end + 1 if newline else end
    out.append((text, base + nxt, flags))
    return nxt

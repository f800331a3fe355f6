"""One tracked file: an open descriptor, how far it was read, and its line assembler.

Offsets, from the start of the file: ``mark.offset`` <= ``sent`` <= ``pos`` <= size.
``mark.offset`` is acknowledged by the daemon; ``[mark.offset, sent)`` is in batches in
flight; ``[sent, pos)`` is held by the multiline assembler; ``[pos, size)`` is unread (or a
partial last line waiting for its newline). Reading never goes further than its byte budget,
so a file that is far ahead costs no more memory than one chunk.
"""

from __future__ import annotations

import os
from json.encoder import encode_basestring_ascii as _esc

from logmarket.tail.checkpoint import FileMark
from logmarket.tail.identity import FP_BYTES, Head, head_of, read_head
from logmarket.tail.lines import INVALID, PARTIAL, SPLIT, Line, split_lines
from logmarket.tail.multiline import Assembler

__all__ = ["DONE", "MORE", "TRUNCATED", "TrackedFile", "encode_records", "open_file"]

TRUNCATED, DONE, MORE = 0, 1, 2  # what a read found

_FLAG_KEYS = {SPLIT: ',"split":true', PARTIAL: ',"partial":true', INVALID: ',"invalidUtf8":true'}


def open_file(path: str) -> int | None:
    """An O_RDONLY descriptor of a file, or ``None`` if it is gone or unreadable."""
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return None


def encode_records(records: list[Line], suffix: str, out: list[str]) -> None:
    """Records as the JSON objects of a batch, ``suffix`` being the labels they share."""
    for text, _end, flags in records:
        if flags:
            extra = "".join(v for k, v in _FLAG_KEYS.items() if flags & k)
            out.append('{"message":' + _esc(text) + suffix + extra + "}")
        else:
            out.append('{"message":' + _esc(text) + suffix + "}")


class TrackedFile:
    """A file being tailed (see the module docstring for its offsets)."""

    def __init__(
        self,
        mark: FileMark,
        fd: int | None,
        assembler: Assembler,
        labels: tuple[str, str | None],
    ) -> None:
        self.mark = mark
        self.fd = fd
        self.assembler = assembler
        self.pos = mark.offset
        self.sent = mark.offset
        self.size = -1
        self.last_growth = 0.0
        self.gone = False  # no longer at a watched path: read to its end, then close
        self.retired = False  # content replaced; kept only until its batches are acked
        # Gone, read to its end and closed for good; kept only until its batches are acked.
        self.closed = False
        self.inflight = 0  # intents that still cover some of its bytes
        self.seen_size = -1  # size when last classified (while fresh)
        source, sub = labels
        static = ',"stream":' + _esc(mark.stream) + ',"source":"' + source + '"'
        if sub is not None:
            static += ',"subPKPId":' + _esc(sub)
        self._labels = static

    @property
    def id(self) -> str:
        return self.mark.id

    @property
    def fresh(self) -> bool:
        """Found after start with nothing read yet: it might still be a copy."""
        return self.mark.fresh

    @fresh.setter
    def fresh(self, value: bool) -> None:
        self.mark.fresh = value

    @property
    def head(self) -> Head:
        return Head(self.mark.head_len, self.mark.head)

    def suffix(self, wall: float) -> str:
        return f',"ts":{wall:.6f}' + self._labels

    def head_changed(self) -> bool:
        """Whether the file's first bytes are no longer the ones it was known by."""
        assert self.fd is not None
        if self.mark.head_len == 0:
            return False
        return not self.head.matches(read_head(self.fd, self.mark.head_len))

    def refresh_head(self) -> None:
        """Grow the fingerprint while the file is shorter than :data:`FP_BYTES`.

        Only while the known head is still there: a head that changed means the content
        was replaced, which the next read must see (not a fingerprint quietly updated).
        """
        if self.fd is None or self.mark.head_len >= FP_BYTES or self.head_changed():
            return
        data = read_head(self.fd)
        if len(data) > self.mark.head_len:
            h = head_of(data)
            self.mark.head_len, self.mark.head = h.length, h.digest

    def stat_size(self) -> int:
        assert self.fd is not None
        return os.fstat(self.fd).st_size

    def read(
        self,
        now: float,
        budget: int,
        max_line: int,
        flush_timeout: float,
        out: list[Line],
        max_lines: int = 1 << 30,
    ) -> int:
        """Read up to ``budget`` bytes into finished records: ``MORE`` if the budget ran out,
        ``TRUNCATED`` if the file was (nothing read), else ``DONE``.

        A truncated file (shorter than what was read, or with other first bytes) is not read:
        the caller retires it and starts a new generation.
        """
        assert self.fd is not None
        size = self.stat_size()
        if size < self.pos or (size != self.size and self.head_changed()):
            return TRUNCATED
        if size != self.size:
            self.last_growth = now
            self.size = size
        if self.mark.head_len < FP_BYTES:
            self.refresh_head()
        more = False
        if size > self.pos:
            data = os.pread(self.fd, min(size - self.pos, budget), self.pos)
            more = size - self.pos > budget
            lines, used = split_lines(data, self.pos, max_line, flush=False)
            if len(lines) > max_lines:
                # No room for more in the window: the rest is read when there is.
                lines = lines[:max_lines]
                used = lines[-1][1] - self.pos if lines else 0
                more = True
            self.pos += used
            self.assembler.feed(lines, out)
            if more:
                return MORE
        if now - self.last_growth >= flush_timeout:
            # The writer has been quiet: a last line without newline, and an event still
            # being assembled, are complete as far as anyone can tell.
            if self.pos < size:
                data = os.pread(self.fd, min(size - self.pos, max_line), self.pos)
                lines, used = split_lines(data, self.pos, max_line, flush=True)
                self.pos += used
                self.assembler.feed(lines, out)
            if self.pos >= size:
                self.assembler.flush(out)
        return DONE

    @property
    def waiting(self) -> bool:
        """Bytes are held back until the flush timeout (a partial line or an open event)."""
        return self.assembler.pending or (self.size > self.pos)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

"""Whether an input is text a log can be made of: a binary file (an executable, an archive, a
database) is refused before it is analysed or recorded, instead of being read as lines.

Not text: a NUL byte anywhere, or more than ``MAX_INVALID_SHARE`` of the bytes that are not
UTF-8 (at least ``MIN_INVALID`` of them: a log with a few Latin-1 names in it is still read,
each such byte replaced). Shared by the client commands and the daemon's HTTP API.
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from typing import BinaryIO

from logmarket.errors import UsageError

__all__ = ["MAX_INVALID_SHARE", "CheckedInput", "NotTextError", "TextCheck", "check_str"]

MAX_INVALID_SHARE = 0.05
MIN_INVALID = 16
_BLOCK = 64 * 1024
_REPLACEMENT = "\ufffd"


class NotTextError(UsageError, ValueError):
    """The input is not text (the message says why and where); for a command, a usage
    error (exit status 2), as a missing file is."""


def _refuse_nul(what: str, offset: int) -> NotTextError:
    return NotTextError(
        f"{what} is not text: it holds a NUL byte (at byte {offset}), as binary and "
        "compressed files do; give the log itself (decompress it first: zcat, xzcat)"
    )


def _refuse_share(what: str, invalid: int, total: int) -> NotTextError:
    return NotTextError(
        f"{what} is not text: {invalid} of its first {total} bytes are not UTF-8 (more than "
        f"{MAX_INVALID_SHARE:.0%} is refused); give the log itself, or convert it to UTF-8 "
        "(iconv -f latin1 -t utf-8)"
    )


class TextCheck:
    """Bytes checked as they come, block by block; :meth:`decode` gives their text."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.seen = 0  # bytes checked so far
        self.invalid = 0  # sequences that are not UTF-8 among them
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def decode(self, data: bytes, final: bool = False) -> str:
        """``data`` as text (invalid sequences replaced); raises :class:`NotTextError`."""
        nul = data.find(b"\0")
        if nul >= 0:
            raise _refuse_nul(self.what, self.seen + nul)
        text = self._decoder.decode(data, final)
        if _REPLACEMENT in text:
            self.invalid += text.count(_REPLACEMENT) - data.count(b"\xef\xbf\xbd")
        self.seen += len(data)
        if self.invalid >= MIN_INVALID and self.invalid > MAX_INVALID_SHARE * self.seen:
            raise _refuse_share(self.what, self.invalid, self.seen)
        return text


def check_str(text: str, what: str) -> None:
    """The same test for text already decoded (a JSON string): NUL characters, or more than
    ``MAX_INVALID_SHARE`` of replacement characters (a binary file decoded leniently)."""
    nul = text.find("\0")
    if nul >= 0:
        raise NotTextError(
            f"{what} is not text: it holds a NUL character (at character {nul}), as binary "
            "and compressed files do; send the log itself"
        )
    invalid = text.count(_REPLACEMENT)
    if invalid >= MIN_INVALID and invalid > MAX_INVALID_SHARE * len(text):
        raise NotTextError(
            f"{what} is not text: {invalid} of its {len(text)} characters are U+FFFD, what "
            "invalid UTF-8 decodes to; send the log itself, as UTF-8"
        )


class CheckedInput:
    """A binary stream whose bytes are checked (:class:`TextCheck`) before the caller sees
    them: ``read()``, iteration by lines and ``with`` as a file's; raises
    :class:`NotTextError` at the first block that is not text."""

    def __init__(self, stream: BinaryIO, what: str) -> None:
        self._stream = stream
        self._check = TextCheck(what)

    def _block(self) -> bytes:
        data = self._stream.read(_BLOCK)
        self._check.decode(data, final=not data)
        return data

    def read(self, size: int = -1) -> bytes:
        if size >= 0:
            data = self._stream.read(size)
            self._check.decode(data, final=not data)
            return data
        return b"".join(iter(self._block, b""))

    def __iter__(self) -> Iterator[bytes]:
        parts: list[bytes] = []  # of a line that spans blocks
        while block := self._block():
            start = 0
            while (end := block.find(b"\n", start)) >= 0:
                parts.append(block[start : end + 1])
                yield b"".join(parts)
                parts = []
                start = end + 1
            if start < len(block):
                parts.append(block[start:])
        if parts:
            yield b"".join(parts)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> CheckedInput:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""Opening the file a command line names: a missing or unreadable one is a usage error, and
so is one that is not text (a binary or compressed file), found before any of it is used."""

from __future__ import annotations

import sys

from logmarket._text import CheckedInput
from logmarket.errors import UsageError

__all__ = ["open_input"]


def open_input(path: str) -> CheckedInput:
    """``path`` opened for reading in binary, or standard input for ``-``; its bytes are
    checked to be text as they are read (:class:`~logmarket._text.NotTextError`, a usage
    error, at the first block that is not)."""
    if path == "-":
        return CheckedInput(sys.stdin.buffer, "standard input")
    try:
        return CheckedInput(open(path, "rb"), path)  # the caller closes it
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None

"""Opening the file a command line names: a missing or unreadable one is a usage error."""

from __future__ import annotations

import sys
from typing import BinaryIO

from logmarket.errors import UsageError

__all__ = ["open_input"]


def open_input(path: str) -> BinaryIO:
    """``path`` opened for reading in binary, or standard input for ``-``."""
    if path == "-":
        return sys.stdin.buffer
    try:
        return open(path, "rb")  # the caller closes it
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None

"""Exceptions of the file tailer."""

from __future__ import annotations

from logmarket.errors import LogmarketError

__all__ = ["CheckpointError", "TailError", "TargetError"]


class TailError(LogmarketError):
    """Base of every exception the tailer raises."""


class CheckpointError(TailError, ValueError):
    """A checkpoint file exists but cannot be understood (it is kept aside, not overwritten)."""


class TargetError(TailError, ValueError):
    """A path, glob or rule given to the tailer is not usable."""

"""The daemon's exceptions: one base, leaves that are also the stdlib class they are."""

from __future__ import annotations

__all__ = ["ConfigError", "FrameError", "LogmarketdError", "StartupError"]


class LogmarketdError(Exception):
    """Base of every exception the daemon raises on purpose."""


class ConfigError(LogmarketdError, ValueError):
    """A setting is missing, malformed or contradicts another."""


class StartupError(LogmarketdError, OSError):
    """The daemon cannot start: socket in use, state directory not writable, ..."""


class FrameError(LogmarketdError, ValueError):
    """A received frame breaks the wire protocol; ``reason`` is the counted label."""

    def __init__(self, reason: str, detail: str, seq: int | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.seq = seq

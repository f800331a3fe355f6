"""The client package's exceptions: one base, leaves that are also the stdlib class they are."""

from __future__ import annotations

__all__ = [
    "CommandError",
    "HelloRefusedError",
    "LogmarketError",
    "LogmarketWarning",
    "MissingExtraError",
    "ProtocolError",
    "UsageError",
]


class LogmarketError(Exception):
    """Base of every exception the logmarket client raises."""


class ProtocolError(LogmarketError, ValueError):
    """The peer sent something the wire protocol does not allow."""


class HelloRefusedError(ProtocolError):
    """The daemon answered the ``hello`` with an ``error`` frame (``reason``: why)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"the daemon refused the hello: {reason}: {detail}")
        self.reason = reason
        self.detail = detail


class LogmarketWarning(UserWarning):
    """A setting of the handler was wrong and replaced by its default (the app runs on)."""


class CommandError(LogmarketError):
    """A CLI command failed; the message is one line that says what to do. Exit status 1."""

    exit_code = 1


class UsageError(CommandError):
    """The command line names something that is not there (file, token). Exit status 2."""

    exit_code = 2


class MissingExtraError(CommandError):
    """The command runs code of an optional part (an extra) this install does not have.
    Exit status 2: the installation needs fixing before the command can run."""

    exit_code = 2

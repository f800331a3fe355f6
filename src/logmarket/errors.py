"""The client package's exceptions: one base, leaves that are also the stdlib class they are."""

from __future__ import annotations

__all__ = ["LogmarketError", "ProtocolError"]


class LogmarketError(Exception):
    """Base of every exception the logmarket client raises."""


class ProtocolError(LogmarketError, ValueError):
    """The peer sent something the wire protocol does not allow."""

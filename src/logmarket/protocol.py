"""The logmarket wire protocol, version 1: the one contract between clients and ``logmarketd``.

Transport
    A Unix stream socket (default ``./.logmarket/logmarketd.sock``, or ``LOGMARKET_SOCKET``).
    Every frame is one JSON object encoded as UTF-8 on one line, ended by ``\\n``
    (newline-delimited JSON). A frame longer than the daemon's cap (``maxFrameBytes``,
    default 1 MiB, newline included) is discarded and rejected; the connection lives on.

Client → daemon
    ``hello``   first frame of an acknowledged session::

        {"type": "hello", "version": 1, "clientId": "<uuid>", "host": "web-1", "pid": 42,
         "source": "runtime", "subPKPId": "alice", "stream": "app", "acks": true,
         "dropped": 0}

    ``batch``   records, with a per-client sequence number that only grows::

        {"type": "batch", "seq": 7, "dropped": 0, "records": [<record>, ...]}

    ``record``  one bare record, for clients that keep no state (``socat``, shell scripts)::

        {"type": "record", "message": "disk full", "level": "ERROR"}

    A record is an object with ``message`` (required) and, all optional: ``ts`` (Unix
    seconds, float), ``level``, ``levelno``, ``logger``, ``file``, ``line``, ``func``,
    ``thread``, ``threadName``, ``process``, ``exc`` (formatted exception), ``stack``,
    ``extra`` (JSON object), ``event`` (a structlog event dict), and per-record overrides of
    the session's ``source``, ``subPKPId`` and ``stream``.

    ``dropped`` is the client's cumulative count of records it dropped on its side (queue
    full); the daemon adds up the increases per client id, so repeating it is harmless.

Daemon → client
    ``welcome`` answers ``hello``::

        {"type": "welcome", "version": 1, "maxFrameBytes": 1048576, "lastSeq": 6}

    ``lastSeq`` is the highest batch seq already durable for this ``clientId`` (-1 if none):
    a reconnecting client forgets its unacknowledged batches up to it instead of resending.

    ``ack``     a batch is durable (committed to the SQLite inbox)::

        {"type": "ack", "seq": 7, "duplicate": false}

    ``error``   a frame was rejected (counted, logged; the connection stays open)::

        {"type": "error", "reason": "invalid-json", "detail": "...", "seq": 7}

Guarantees
    At-least-once on the wire, exactly-once in the store: a batch is acknowledged only after
    it is committed, and a batch whose ``(clientId, seq)`` is not above the client's last
    committed seq is acknowledged as a duplicate and not stored again. Clients that send no
    ``hello``, or ``"acks": false``, get no acks and no dedup (fire and forget).

This module is standard library only; any language can speak the protocol with a socket and a
JSON encoder.
"""

from __future__ import annotations

import json
from typing import Any, Final

__all__ = [
    "DEFAULT_MAX_FRAME_BYTES",
    "PROTOCOL_VERSION",
    "SOURCES",
    "decode_frame",
    "encode_frame",
]

PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_FRAME_BYTES: Final = 1024 * 1024
SOURCES: Final = ("build", "test", "deploy", "runtime")

# ensure_ascii: lone surrogates (from undecodable file names, say) become \udXXX escapes
# that every JSON parser accepts, instead of bytes that are not UTF-8.
_encoder = json.JSONEncoder(ensure_ascii=True, separators=(",", ":"), default=repr)


def encode_frame(frame: dict[str, Any]) -> bytes:
    """One frame as the bytes that go on the wire (newline included).

    Values that JSON cannot hold are written as their ``repr`` rather than failing: a log
    record must never be lost to an exotic ``extra`` value.
    """
    return (_encoder.encode(frame) + "\n").encode("ascii")


def decode_frame(line: bytes) -> dict[str, Any]:
    """Parse one received line into a frame object (raises ``ValueError`` when it is not)."""
    obj = json.loads(line)
    if not isinstance(obj, dict):
        raise ValueError("a frame must be a JSON object")
    return obj

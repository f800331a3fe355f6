"""The logmarket wire protocol, version 1: the one contract between clients and ``logmarketd``.

Transport
    A Unix stream socket (default ``./.logmarket/logmarketd.sock``, or ``LOGMARKET_SOCKET``).
    Every frame is one JSON object encoded as UTF-8 on one line, ended by ``\\n``
    (newline-delimited JSON). A frame longer than the daemon's cap (``maxFrameBytes``,
    default 1 MiB, newline included) is discarded and rejected; the connection lives on.

Client → daemon
    ``hello``   first frame of an acknowledged session::

        {"type": "hello", "version": 1, "clientId": "<uuid>", "clientSecret": "<secret>",
         "key": "lmk_<keyid>_<secret>", "host": "web-1", "pid": 42, "source": "runtime",
         "subPKPId": "alice", "stream": "app", "acks": true, "dropped": 0}

    ``key`` is a Sub-PKP key (``logmarket keys create ID`` on the daemon's host prints one;
    clients read it from ``LOGMARKET_KEY`` or a ``key`` option) and, with the Unix user the
    client runs as, the only thing that decides whom the connection's records credit:

    * a live key credits its own Sub-PKP, for every record of the connection; a ``subPKPId``
      in the hello or in a record that names another Sub-PKP is ignored;
    * without a live key, a connection from a Unix user id the daemon's admin mapped to a
      Sub-PKP (``logmarketd --peer-uid-credit UID=ID``; the kernel reports the peer's user
      with SO_PEERCRED, so no client can claim another's) credits that Sub-PKP;
    * otherwise no key, or a key that is unknown, wrong or revoked, credits no one: the records are
      still stored and analysed (findings, alerts, dashboard), whatever ``subPKPId`` they
      name. Such a hello is not refused (the connection lives on); the ``welcome`` says so
      with ``"credited": null`` and the daemon counts it (``logmarket_hello_keys``).
    * A key revoked while a connection is open stops crediting from that connection's next
      frame on; the connection is not closed. Its next hello is uncredited.

    ``subPKPId`` in a hello or a record is therefore informational only (kept for clients of
    earlier versions); it credits nothing.

    ``clientSecret`` is required whenever ``clientId`` is present: a random string of 16 to
    256 characters the client makes together with its id (``secrets.token_urlsafe(32)``) and
    keeps exactly as long as the id (in memory for the handler, in its 0600 checkpoint for
    the tailer). The daemon stores only its SHA-256. The first hello of an unknown client id
    registers the secret; a later hello for that id with another secret is answered
    ``{"type": "error", "reason": "client-auth", ...}`` and the connection is closed (no
    welcome, so nothing about the id, not even ``lastSeq``, reaches a process that only
    knows the id). A process that learns another's client id therefore cannot take it over.

    ``batch``   records, with a per-client sequence number that only grows::

        {"type": "batch", "seq": 7, "dropped": 0, "records": [<record>, ...]}

    ``record``  one bare record, for clients that keep no state (``socat``, shell scripts)::

        {"type": "record", "message": "disk full", "level": "ERROR"}

    A record is an object with ``message`` (required) and, all optional: ``ts`` (Unix
    seconds, float), ``level``, ``levelno``, ``logger``, ``file``, ``line``, ``func``,
    ``thread``, ``threadName``, ``process``, ``exc`` (formatted exception), ``stack``,
    ``extra`` (JSON object), ``event`` (a structlog event dict), and per-record overrides of
    the session's ``source`` and ``stream`` (a record's ``subPKPId`` overrides nothing: only
    the hello's ``key`` decides whom records credit).

    ``dropped`` is the client's cumulative count of records it dropped on its side (queue
    full); the daemon adds up the increases per client id, so repeating it is harmless.

Limits (checked when a frame is validated; a frame outside them is refused whole with reason
``invalid-frame`` and counted, and the connection lives on)
    Integers (``seq``, ``dropped``, ``pid``, a record's ``line``, ``levelno``, ``thread``,
    ``process``) must fit a signed 64-bit integer (``seq`` and ``dropped`` also be >= 0);
    ``ts`` must be a finite number. Strings are capped: ``clientId``, ``clientSecret``,
    ``key``, ``host``, ``source``, ``subPKPId`` and ``stream`` at 256 characters (``MAX_TEXT``),
    a record's other strings by the frame size cap.

Daemon → client
    ``welcome`` answers ``hello``::

        {"type": "welcome", "version": 1, "maxFrameBytes": 1048576, "lastSeq": 6,
         "credited": "alice"}

    ``credited`` is the Sub-PKP the connection's records credit: the hello key's, or null
    (no key, or one the daemon did not accept).

    ``lastSeq`` is the highest batch seq already durable for this ``clientId`` (-1 if none):
    a reconnecting client forgets its unacknowledged batches up to it instead of resending.

    ``ack``     a batch is durable (committed to the SQLite inbox)::

        {"type": "ack", "seq": 7, "duplicate": false}

    ``error``   a frame was rejected (counted, logged; the connection stays open, except
    after ``client-auth``)::

        {"type": "error", "reason": "invalid-json", "detail": "...", "seq": 7}

    ``reason`` is a short label: ``invalid-json``, ``invalid-frame``, ``too-large``,
    ``client-auth``, ... A refused batch carries its ``seq`` so the client can forget it.

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
    "INT64_MAX",
    "INT64_MIN",
    "MAX_TEXT",
    "PROTOCOL_VERSION",
    "SOURCES",
    "decode_frame",
    "encode_frame",
]

PROTOCOL_VERSION: Final = 1
DEFAULT_MAX_FRAME_BYTES: Final = 1024 * 1024
SOURCES: Final = ("build", "test", "deploy", "runtime")
MAX_TEXT: Final = 256  # characters in a hello's clientId, clientSecret, key, host, subPKPId, ...
INT64_MIN: Final = -(2**63)
INT64_MAX: Final = 2**63 - 1

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

"""logmarketd: the per-host daemon of the log data marketplace.

Stages, in the order a record meets them: ingest (Unix socket) → inbox (durable SQLite
queue) → mining → windows → redaction → agents → scoring → pricing → ledger → game, with
the HTTP API beside them. :class:`logmarketd.service.Daemon` wires them together.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"

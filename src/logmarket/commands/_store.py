"""``--store DSN`` (env ``LOGMARKET_STORE``) for the commands that work on the marketplace's
store on this host (``keys``, ``ledger verify``): the shared PostgreSQL store of a fleet, as
``logmarketd --store`` takes it; without it, the daemon's SQLite file in ``--state-dir``."""

from __future__ import annotations

import argparse
import os

from logmarket.commands._daemon import daemon_code
from logmarket.errors import UsageError

__all__ = ["add_store_arg", "store_dsn"]


def add_store_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--store", default=os.environ.get("LOGMARKET_STORE") or None,
                        metavar="DSN",
                        help="a fleet's shared store, postgresql://USER@HOST:PORT/DB (password "
                             "from PGPASSWORD or ~/.pgpass) [env: LOGMARKET_STORE]; default: "
                             "the SQLite store in --state-dir")  # fmt: skip


def store_dsn(args: argparse.Namespace) -> str | None:
    """The shared store's DSN, or None for the embedded SQLite store; a value that is not a
    PostgreSQL DSN is a :class:`UsageError`."""
    value = (getattr(args, "store", None) or "").strip()
    if not value:
        return None
    with daemon_code():
        from logmarketd.store.engine import is_postgres_dsn  # the daemon's own test of it

    if not is_postgres_dsn(value):
        raise UsageError(
            "--store (LOGMARKET_STORE) must be a PostgreSQL DSN, postgresql://USER@HOST:PORT/DB"
        )
    return value

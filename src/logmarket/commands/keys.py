"""``logmarket keys create ID`` and ``logmarket keys revoke KEY_ID|ID``: the Sub-PKP API keys
in the daemon's store (hashed), made and revoked on the daemon's host — or, with ``--store
DSN`` (``LOGMARKET_STORE``), in a fleet's shared PostgreSQL store, from any host that reaches it.

A Sub-PKP exists for the socket when a key is made for it: only a key's connections credit an
account. A revocation holds from the key's next use, in a running daemon too (every use reads
the key's row).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from logmarket.commands._daemon import daemon_code
from logmarket.commands._store import add_store_arg, store_dsn
from logmarket.errors import CommandError, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("keys", help="manage Sub-PKP API keys (on the daemon's host)")
    keys = p.add_subparsers(dest="keys_command", required=True, metavar="ACTION")
    create = keys.add_parser("create", help="create a key for a Sub-PKP; prints it once")
    create.add_argument("sub_pkp_id", metavar="ID")
    _state_dir(create)
    create.set_defaults(run=run_create)
    revoke = keys.add_parser(
        "revoke", help="revoke a key (by its key id, lmk_<keyid>_...) or every key of a Sub-PKP"
    )
    revoke.add_argument("key", metavar="KEY_ID|ID")
    _state_dir(revoke)
    revoke.set_defaults(run=run_revoke)


def _state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", default=os.environ.get("LOGMARKET_STATE_DIR", ".logmarket"),
                        help="the daemon's state directory [env: LOGMARKET_STATE_DIR]")  # fmt: skip
    add_store_arg(parser)


def _cannot(db: Path, what: str, exc: Exception) -> CommandError:
    return CommandError(
        f"cannot {what} {db}: {exc}; give --state-dir of the daemon's state "
        "directory (LOGMARKET_STATE_DIR), on the daemon's host"
    )


def _cannot_shared(dsn: str, what: str, exc: Exception) -> CommandError:
    with daemon_code():
        from logmarketd.store.engine import redacted

    reason = " ".join(str(exc).split())
    return CommandError(f"cannot {what} the shared store {redacted(dsn)}: {reason}")


def _shared(dsn: str, action: str, run: Any) -> Any:
    """``run()`` on the shared store at ``dsn``, its errors said in one line."""
    with daemon_code():
        import psycopg
        from logmarketd.errors import StartupError
    try:
        return run()
    except StartupError as exc:  # already names the store and says why
        raise CommandError(" ".join(str(exc).split())) from None
    except (psycopg.Error, OSError) as exc:
        raise _cannot_shared(dsn, action, exc) from None


def _create_shared(dsn: str, sub_pkp_id: str) -> str:
    """A key in the shared store, its schema made first if no daemon has started on it yet."""
    import asyncio

    with daemon_code():
        from logmarketd.store.keys import create_key
        from logmarketd.store.pg import PgStore

    async def migrate() -> None:
        await (await PgStore.open(dsn)).close()

    def run() -> str:
        asyncio.run(migrate())
        return create_key(dsn, sub_pkp_id)

    try:
        return str(_shared(dsn, "write the key into", run))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def run_create(args: argparse.Namespace) -> int:
    import asyncio
    import sqlite3

    with daemon_code():
        from logmarketd.store.db import Store
        from logmarketd.store.keys import create_key

    dsn = store_dsn(args)
    if dsn is not None:
        key = _create_shared(dsn, args.sub_pkp_id)
        _told(key, args.sub_pkp_id)
        return 0
    db = Path(args.state_dir) / "logmarket.db"

    async def init() -> None:
        await (await Store.open(db)).close()

    try:
        if not db.exists():
            # Create and migrate the store, so keys can be made before the first start.
            asyncio.run(init())
        key = create_key(db, args.sub_pkp_id)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    except (OSError, sqlite3.Error) as exc:
        raise _cannot(db, "write the key into", exc) from None
    _told(key, args.sub_pkp_id)
    return 0


def _told(key: str, sub_pkp_id: str) -> None:
    print(key)
    key_id = key.split("_")[1]
    print(f"key {key_id} for Sub-PKP {sub_pkp_id!r}: store it now, it is not shown again"
          f" (revoke it with `logmarket keys revoke {key_id}`)", file=sys.stderr)  # fmt: skip


def run_revoke(args: argparse.Namespace) -> int:
    import sqlite3

    with daemon_code():
        from logmarketd.store.keys import revoke_keys

    dsn = store_dsn(args)
    where: Path | str
    if dsn is not None:
        where = dsn
        revoked = _shared(dsn, "revoke the key in", lambda: revoke_keys(dsn, args.key))
    else:
        where = db = Path(args.state_dir) / "logmarket.db"
        if not db.exists():
            raise CommandError(
                f"no store at {db}; give --state-dir of the daemon's state directory"
            )
        try:
            revoked = revoke_keys(db, args.key)
        except (OSError, sqlite3.Error) as exc:
            raise _cannot(db, "revoke the key in", exc) from None
    if not revoked:
        shown = "the shared store" if dsn is not None else where
        raise CommandError(f"no key and no Sub-PKP with keys is called {args.key!r} in {shown}")
    for key in revoked:
        print(f"revoked key {key.key_id} of Sub-PKP {key.sub_pkp_id!r}")
    return 0

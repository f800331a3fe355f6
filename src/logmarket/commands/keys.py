"""``logmarket keys create ID`` and ``logmarket keys revoke KEY_ID|ID``: the Sub-PKP API keys
in the daemon's store (hashed), made and revoked on the daemon's host.

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


def _cannot(db: Path, what: str, exc: Exception) -> CommandError:
    return CommandError(
        f"cannot {what} {db}: {exc}; give --state-dir of the daemon's state "
        "directory (LOGMARKET_STATE_DIR), on the daemon's host"
    )


def run_create(args: argparse.Namespace) -> int:
    import asyncio
    import sqlite3

    with daemon_code():
        from logmarketd.store.db import Store
        from logmarketd.store.keys import create_key

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
    print(key)
    key_id = key.split("_")[1]
    print(f"key {key_id} for Sub-PKP {args.sub_pkp_id!r}: store it now, it is not shown again"
          f" (revoke it with `logmarket keys revoke {key_id}`)", file=sys.stderr)  # fmt: skip
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    import sqlite3

    with daemon_code():
        from logmarketd.store.keys import revoke_keys

    db = Path(args.state_dir) / "logmarket.db"
    if not db.exists():
        raise CommandError(f"no store at {db}; give --state-dir of the daemon's state directory")
    try:
        revoked = revoke_keys(db, args.key)
    except (OSError, sqlite3.Error) as exc:
        raise _cannot(db, "revoke the key in", exc) from None
    if not revoked:
        raise CommandError(f"no key and no Sub-PKP with keys is called {args.key!r} in {db}")
    for key in revoked:
        print(f"revoked key {key.key_id} of Sub-PKP {key.sub_pkp_id!r}")
    return 0

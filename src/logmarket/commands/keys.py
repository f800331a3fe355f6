"""``logmarket keys create ID``: a Sub-PKP API key, written to the daemon's store (hashed)."""

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
    create.add_argument("--state-dir", default=os.environ.get("LOGMARKET_STATE_DIR", ".logmarket"),
                        help="the daemon's state directory [env: LOGMARKET_STATE_DIR]")  # fmt: skip
    create.set_defaults(run=run_create)


def run_create(args: argparse.Namespace) -> int:
    import asyncio
    import sqlite3

    with daemon_code():
        from logmarketd.serve.auth import create_key
        from logmarketd.store.db import Store

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
        raise CommandError(
            f"cannot write the key into {db}: {exc}; give --state-dir of the daemon's state "
            "directory (LOGMARKET_STATE_DIR), on the daemon's host"
        ) from None
    print(key)
    print(f"key for Sub-PKP {args.sub_pkp_id!r}: store it now, it is not shown again",
          file=sys.stderr)  # fmt: skip
    return 0

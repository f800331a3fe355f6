"""``logmarket ledger``: check the signed ledger offline, or reverse a payment.

``verify`` reads the daemon's SQLite file (or, with ``--store DSN``/``LOGMARKET_STORE``, a
fleet's shared PostgreSQL store, in one read-only transaction) and the public key only (``ledger.pub`` in the
state directory, or ``--public-key`` with a copy kept elsewhere, as the daemon serves it at
``/npe/log-marketplace/ledger/public-key``): exit 0 and one line when every transaction is
as signed, exit 1 naming the first bad entry otherwise. It runs the daemon's code on this
host, nothing over the network. ``reverse`` asks the daemon (admin token).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

from logmarket.commands._daemon import daemon_code
from logmarket.commands._http import API, add_api_args, call
from logmarket.commands._store import add_store_arg, store_dsn
from logmarket.errors import CommandError, UsageError


def register(sub: Any) -> None:
    p = sub.add_parser("ledger", help="verify the signed ledger, reverse a payment")
    actions = p.add_subparsers(dest="ledger_command", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="prove offline that no ledger entry was altered, removed or inserted"
    )
    verify.add_argument("--state-dir", default=os.environ.get("LOGMARKET_STATE_DIR", ".logmarket"),
                        help="the daemon's state directory [env: LOGMARKET_STATE_DIR]")  # fmt: skip
    verify.add_argument("--db", default=None, help="the store (default: logmarket.db there)")
    add_store_arg(verify)
    verify.add_argument("--public-key", default=None, metavar="FILE",
                        help="the ledger's public key, PEM or base64 (default: ledger.pub in "
                             "--state-dir)")  # fmt: skip
    verify.add_argument("--json", action="store_true", help="print the report as JSON")
    verify.set_defaults(run=run_verify)
    reverse = actions.add_parser("reverse", help="reverse a payment (admin token)")
    reverse.add_argument("transaction_id", metavar="TXID")
    reverse.add_argument("--reason", required=True, help="why (kept, signed, in the ledger)")
    add_api_args(reverse)
    reverse.set_defaults(run=run_reverse)


def run_verify(args: argparse.Namespace) -> int:
    with daemon_code():
        from logmarketd.market.chain import LedgerUnreadableError, verify_ledger
        from logmarketd.market.signing import load_public_key

    state = Path(args.state_dir)
    dsn = None if args.db else store_dsn(args)
    db: Path | str = dsn or (Path(args.db) if args.db else state / "logmarket.db")
    key_path = Path(args.public_key) if args.public_key else state / "ledger.pub"
    try:
        public_key = load_public_key(key_path.read_text(encoding="ascii"))
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(
            f"cannot read the public key {key_path}: {getattr(exc, 'strerror', None) or exc}; "
            "give --public-key (the daemon serves it at "
            f"{API}/ledger/public-key) or --state-dir of a daemon that has run"
        ) from None
    except ValueError as exc:
        raise UsageError(f"{key_path}: {exc}") from None
    started = time.perf_counter()
    try:
        report = verify_ledger(db, public_key)
    except LedgerUnreadableError as exc:
        raise CommandError(str(exc)) from None
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps(report.to_json() | {"seconds": round(seconds, 3)}))
    else:
        print(report.summary())
    return 0 if report.ok else 1


def run_reverse(args: argparse.Namespace) -> int:
    tx = call(
        args, "POST", f"{API}/transactions/{args.transaction_id}/reverse", {"reason": args.reason}
    )
    if args.json:
        print(json.dumps(tx))
        return 0
    print(f"reversed ${tx['amount']:.2f} of transaction {tx['reverses']} for {tx['subPKPId']}: "
          f"reversing transaction {tx['id']} at {tx['timestamp']} ({tx['reason']})")  # fmt: skip
    return 0

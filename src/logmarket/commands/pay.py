"""``logmarket pay ID``: pay an analysis (admin; idempotent). ``--json``: the transaction."""

from __future__ import annotations

import argparse
import json
from typing import Any

from logmarket.commands._http import API, add_api_args, call


def register(sub: Any) -> None:
    p = sub.add_parser("pay", help="pay an analysis (admin token; paying twice is harmless)")
    p.add_argument("analysis_id", metavar="ID")
    add_api_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    tx = call(args, "POST", f"{API}/pay/{args.analysis_id}")
    if args.json:
        print(json.dumps(tx))
        return 0
    # Paying again answers the first transaction: the same line, the same id.
    print(f"paid ${tx['amount']:.2f} to {tx['subPKPId']} for analysis {tx['analysisId']}: "
          f"transaction {tx['id']} at {tx['timestamp']}")  # fmt: skip
    return 0

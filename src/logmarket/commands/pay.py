"""``logmarket pay ID``: pay an analysis (admin; idempotent)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from logmarket.commands._http import API, ApiError, add_api_args, call


def register(sub: Any) -> None:
    p = sub.add_parser("pay", help="pay an analysis (admin token; paying twice is harmless)")
    p.add_argument("analysis_id", metavar="ID")
    add_api_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        tx = call(args, "POST", f"{API}/pay/{args.analysis_id}")
    except ApiError as exc:
        print(f"logmarket pay: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(tx))
    return 0

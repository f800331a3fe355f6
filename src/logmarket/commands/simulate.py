"""``logmarket simulate``: sample logs through the real pipeline, recorded as simulated."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from logmarket.commands._http import API, ApiError, add_api_args, call


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="run sample logs through the daemon (never paid)")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--sub-pkp", default=None)
    add_api_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    body = {"iterations": args.iterations, "subPKPId": args.sub_pkp}
    try:
        result = call(args, "POST", f"{API}/simulate", body)
    except ApiError as exc:
        print(f"logmarket simulate: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(result, indent=2))
    return 0

"""``logmarket simulate``: sample logs through the real pipeline, recorded as simulated.
``--json``: the API's answer."""

from __future__ import annotations

import argparse
import json
from typing import Any

from logmarket.commands._http import API, add_api_args, call


def register(sub: Any) -> None:
    p = sub.add_parser("simulate", help="run sample logs through the daemon (never paid)")
    p.add_argument("--iterations", type=int, default=10)
    p.add_argument("--sub-pkp", default=None)
    add_api_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    body = {"iterations": args.iterations, "subPKPId": args.sub_pkp}
    result = call(args, "POST", f"{API}/simulate", body)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"simulated {result['iterations']} analyses for {result['subPKPId'] or '(no Sub-PKP)'}: "
          f"worth ${result['totalValue']:.2f}, never paid")  # fmt: skip
    for a in result["analyses"]:
        print(f"  {a['id']}  {a['source']:<7}  value {a['valueScore']:>5.1f}  "
              f"${a['paymentAmount']:.2f}  {a['findings']} findings  {a['sample']}")  # fmt: skip
    return 0

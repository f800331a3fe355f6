"""``logmarket submit PATH --source S``: the seed's CI flow — one log to the analyze API."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from logmarket.commands._http import API, ApiError, add_api_args, call
from logmarket.protocol import SOURCES


def register(sub: Any) -> None:
    p = sub.add_parser("submit", help="submit one log file (or -) for analysis and payment")
    p.add_argument("path", help="log file, or - for standard input")
    p.add_argument("--source", choices=SOURCES, required=True)
    p.add_argument("--sub-pkp", default=os.environ.get("LOGMARKET_SUB_PKP_ID"),
                   help="Sub-PKP id [env: LOGMARKET_SUB_PKP_ID]")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the whole LogAnalysis as JSON")
    add_api_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.path == "-":
        content = sys.stdin.read()
    else:
        with open(args.path, encoding="utf-8", errors="replace") as f:
            content = f.read()
    body = {"source": args.source, "logContent": content, "subPKPId": args.sub_pkp}
    try:
        analysis = call(args, "POST", f"{API}/analyze", body)
    except ApiError as exc:
        print(f"logmarket submit: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(analysis))
        return 0
    ins = analysis["aiInsights"]
    n = sum(len(v) for v in ins.values())
    print(f"analysis {analysis['id']}: {n} findings, quality {analysis['quality']['overall']:.0f}, "
          f"value {analysis['valueScore']:.0f}, ${analysis['paymentAmount']:.2f}"
          f"{' (paid)' if analysis['paid'] else ''}")  # fmt: skip
    for e in ins["errorPatterns"][:5]:
        print(f"  error    [{e['severity']}] {e['pattern']} at {e['location']}")
    for s in ins["securityConcerns"][:5]:
        print(f"  security [{s['severity']}] {s['threat']}")
    for p in ins["performanceIssues"][:5]:
        print(f"  perf     {p['issue']}: {p['actual']} {p['metric']} (threshold {p['threshold']})")
    return 0

"""``logmarket submit PATH --source S``: the seed's CI flow — one log to the analyze API.

Prints the analysis's summary and every finding (``--json``: the whole LogAnalysis).
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from logmarket.commands._files import open_input
from logmarket.commands._http import API, add_api_args, call
from logmarket.protocol import SOURCES


def register(sub: Any) -> None:
    p = sub.add_parser("submit", help="submit one log file (or -) for analysis and payment")
    p.add_argument("path", help="log file, or - for standard input")
    p.add_argument("--source", choices=SOURCES, required=True)
    p.add_argument("--sub-pkp", default=os.environ.get("LOGMARKET_SUB_PKP_ID"),
                   help="Sub-PKP id [env: LOGMARKET_SUB_PKP_ID]")  # fmt: skip
    add_api_args(p)
    p.set_defaults(run=run)


def findings(ins: dict[str, Any]) -> list[str]:
    """One line per finding, of every kind, as ``[kind/severity] title`` (and where)."""
    rows: list[tuple[str, Any, str, Any]] = []
    rows += [
        ("error", e["severity"], e["pattern"], e.get("location")) for e in ins["errorPatterns"]
    ]
    rows += [("performance", p.get("severity") or "-",
              f"{p['issue']}: {p['actual']:g} {p['metric']} (threshold {p['threshold']:g})",
              p.get("location")) for p in ins["performanceIssues"]]  # fmt: skip
    rows += [("security", s["severity"], s["threat"], s.get("location"))
             for s in ins["securityConcerns"]]  # fmt: skip
    rows += [("quality", q["impact"], f"{q['area']}: {q['suggestion']}", q.get("location"))
             for q in ins["improvementOpportunities"]]  # fmt: skip
    return [f"  [{kind}/{sev}] {title}" + (f"\n      at {loc}" if loc else "")
            for kind, sev, title, loc in rows]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    with open_input(args.path) as stream:
        content = stream.read().decode("utf-8", "replace")
    body = {"source": args.source, "logContent": content, "subPKPId": args.sub_pkp}
    analysis = call(args, "POST", f"{API}/analyze", body)
    if args.json:
        print(json.dumps(analysis))
        return 0
    lines = findings(analysis["aiInsights"])
    print(f"analysis {analysis['id']}: {len(lines)} finding{'' if len(lines) == 1 else 's'}, "
          f"quality {analysis['quality']['overall']:.0f}, value {analysis['valueScore']:.0f}, "
          f"${analysis['paymentAmount']:.2f}{' (paid)' if analysis['paid'] else ''}")  # fmt: skip
    if not analysis.get("subPKPId") and analysis["paymentAmount"] > 0:
        print(f"  nobody is credited: no Sub-PKP was given, so the ${analysis['paymentAmount']:.2f}"
              " is paid to no one (pass --sub-pkp ID, or set LOGMARKET_SUB_PKP_ID)")  # fmt: skip
    for line in lines:
        print(line)
    return 0

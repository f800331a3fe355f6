"""``logmarket stats``: the dashboard, top earners and agents as tables (``--json``: the
dashboard's JSON as the API returns it). What was earned counts the payouts still pending
(not yet settled into a balance); the pending part is shown beside it."""

from __future__ import annotations

import argparse
import json
from typing import Any

from logmarket.commands._format import table
from logmarket.commands._http import API, add_api_args, call


def register(sub: Any) -> None:
    p = sub.add_parser("stats", help="marketplace totals, top earners and agents (admin)")
    add_api_args(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    d = call(args, "GET", f"{API}/dashboard")
    if args.json:
        print(json.dumps(d))
        return 0
    t = d["totals"]
    print(f"analyses {t['analyses']}  paid {t['paidAnalyses']}  Sub-PKPs {t['subPKPs']}  "
          f"earned ${t['totalEarnings']:.2f} (pending ${t['pending']:.2f})  "
          f"insights {t['insights']}  "
          f"records stored {d['ingest']['recordsStored']}")  # fmt: skip
    print()
    rows = [["rank", "Sub-PKP", "earned", "pending", "level", "xp", "paid logs"]]
    rows += [[str(e["rank"]), e["subPKPId"], f"${e['totalEarned']:.2f}", f"${e['pending']:.2f}",
              str(e["level"]), str(e["xp"]), str(e["paidLogs"])] for e in d["topSellers"]]  # fmt: skip
    print(table(rows))
    print()
    rows = [["agent", "on", "logs", "insights", "money"]]
    rows += [[a["name"], "yes" if a["enabled"] else "no", str(a["logsAnalyzed"]),
              str(a["insightsGenerated"]), f"${a['moneyPaid']:.2f}"] for a in d["agents"]]  # fmt: skip
    print(table(rows))
    return 0

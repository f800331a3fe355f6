"""``logmarket findings judge FINGERPRINT --valid|--invalid``: the admin's verdict on a
finding (the last one counts). ``payouts list`` shows the verdicts beside each payout's
findings, and the agents get them as feedback."""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

from logmarket.commands._http import API, add_api_args, call


def register(sub: Any) -> None:
    p = sub.add_parser("findings", help="judge a finding valid or invalid (admin token)")
    actions = p.add_subparsers(dest="findings_command", required=True, metavar="ACTION")
    judge = actions.add_parser(
        "judge", help="record whether a finding is real",
        description="Record the admin's verdict on a finding, by its fingerprint (`logmarket "
        "payouts list --json` shows them): kept for the agents' feedback, shown by `payouts "
        "list`. Judging again replaces the verdict.",
    )  # fmt: skip
    judge.add_argument("fingerprint", metavar="FINGERPRINT")
    verdict = judge.add_mutually_exclusive_group(required=True)
    verdict.add_argument("--valid", dest="valid", action="store_true", default=None,
                         help="the finding is real")  # fmt: skip
    verdict.add_argument("--invalid", dest="valid", action="store_false",
                         help="the finding is not (made up, test data, noise)")  # fmt: skip
    judge.add_argument("--note", default=None, help="why (kept with the verdict)")
    add_api_args(judge)
    judge.set_defaults(run=run_judge)


def run_judge(args: argparse.Namespace) -> int:
    body: dict[str, Any] = {"valid": args.valid} | ({"note": args.note} if args.note else {})
    path = f"{API}/findings/{quote(args.fingerprint, safe='')}/verdict"
    verdict = call(args, "POST", path, body)
    if args.json:
        print(json.dumps(verdict))
        return 0
    note = f" ({verdict['note']})" if verdict.get("note") else ""
    print(f"finding {verdict['fingerprint']} judged {'valid' if verdict['valid'] else 'invalid'}"
          f"{note}")  # fmt: skip
    return 0

"""``logmarket payouts``: the admin's triage queue. An auto-payment waits ``pending`` for the
daemon's hold (``--settle-after``) before it settles into the Sub-PKP's balance; ``list``
shows the queue with the findings each payout pays for, ``pay`` settles one now, ``hold``
keeps one from settling until it is paid or reversed (``logmarket ledger reverse``).
"""

from __future__ import annotations

import argparse
import json
from decimal import Decimal
from typing import Any
from urllib.parse import quote, urlencode

from logmarket.commands._format import table
from logmarket.commands._http import API, add_api_args, call, request

__all__ = ["STATES", "findings_cell", "money", "payout_rows", "register"]

STATES = ("pending", "held", "settled", "reversed")
_CENT = Decimal("0.01")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "payouts",
        help="list, pay now or hold the payouts waiting to settle (admin token)",
        description="An auto-payment waits pending for the daemon's hold (--settle-after) "
        "before it settles into the Sub-PKP's balance. list: the queue, with the findings each "
        "payout pays for; pay: settle one now; hold: keep one from settling until it is paid "
        "or reversed (logmarket ledger reverse).",
    )
    actions = p.add_subparsers(dest="payouts_command", required=True, metavar="ACTION")
    ls = actions.add_parser("list", help="the payouts in one state, newest first",
                            description="One line a payout: its transaction id (for `pay`, "
                            "`hold`, `ledger reverse`), Sub-PKP, amount, status, when it "
                            "settles on its own, and how many findings it pays for (with the "
                            "admin's verdicts). --json: the API's answer.")  # fmt: skip
    ls.add_argument("--state", choices=STATES, default="pending",
                    help="pending (settles on its own when due), held, settled or reversed "
                         "[default: pending]")  # fmt: skip
    ls.add_argument("--limit", type=_limit, default=50, metavar="N",
                    help="payouts to show, 1-100; with --all, a page [default: 50]")  # fmt: skip
    ls.add_argument("--all", action="store_true",
                    help="every payout in the state, page after page")  # fmt: skip
    add_api_args(ls)
    ls.set_defaults(run=run_list)
    pay = actions.add_parser("pay", help="settle a pending or held payout now",
                             description="Move the payout from the Sub-PKP's pending into its "
                             "balance now, signed in the ledger. Paying twice is harmless: the "
                             "second time answers the first settlement.")  # fmt: skip
    hold = actions.add_parser("hold", help="keep a pending payout from settling on its own",
                              description="A held payout settles only with `logmarket payouts "
                              "pay`; `logmarket ledger reverse` takes it back.")  # fmt: skip
    for action, run in ((pay, run_pay), (hold, run_hold)):
        action.add_argument("transaction_id", metavar="TX", help="the payment's transaction id")
        action.add_argument("--note", default=None, help="why (kept with the payout)")
        add_api_args(action)
        action.set_defaults(run=run)


def _limit(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if not 1 <= n <= 100:
        raise argparse.ArgumentTypeError(f"a whole number from 1 to 100, not {text!r}")
    return n


def money(amount: Decimal | float | int | str) -> str:
    """``$`` and the amount, in cents unless it has a finer part (payments are kept to the
    micro-dollar, and a price under a cent must not print as $0.00)."""
    d = Decimal(str(amount))
    return f"${d.quantize(_CENT)}" if d == d.quantize(_CENT) else f"${d.normalize():f}"


def findings_cell(findings: list[dict[str, Any]]) -> str:
    """How many findings, and how many the admin judged valid and invalid."""
    judged = [f["valid"] for f in findings if f.get("valid") is not None]
    parts = [f"{n} {word}" for n, word in ((judged.count(True), "valid"),
                                            (judged.count(False), "invalid")) if n]  # fmt: skip
    return f"{len(findings)} ({', '.join(parts)})" if parts else str(len(findings))


def payout_rows(payouts: list[dict[str, Any]]) -> list[list[str]]:
    """The table ``payouts list`` prints, its header first."""
    rows = [["transaction", "Sub-PKP", "amount", "status", "settles at", "findings"]]
    for p in payouts:
        rows.append([p["transactionId"], p["subPKPId"], money(p["amount"]), p["status"],
                     p["settlesAt"] or "-", findings_cell(p["analysis"]["findings"])])  # fmt: skip
    return rows


def _page(args: argparse.Namespace, before: str | None) -> dict[str, Any]:
    query = {"state": args.state, "limit": str(args.limit)} | ({"before": before} if before else {})
    answer: dict[str, Any] = call(args, "GET", f"{API}/payouts?{urlencode(query)}")
    return answer


def run_list(args: argparse.Namespace) -> int:
    page = _page(args, None)
    payouts = list(page["payouts"])
    while args.all and page["nextBefore"] is not None:
        page = _page(args, page["nextBefore"])
        payouts += page["payouts"]
    more = page["nextBefore"]
    if args.json:
        print(json.dumps({"state": args.state, "payouts": payouts, "nextBefore": more}))
        return 0
    if not payouts:
        print(f"no {args.state} payouts")
        return 0
    print(table(payout_rows(payouts)))
    total = sum((Decimal(str(p["amount"])) for p in payouts), Decimal(0))
    print(f"\n{len(payouts)} {args.state} payout{'s' * (len(payouts) != 1)}, {money(total)}"
          + ("; more with --all (or a larger --limit)" if more else ""))  # fmt: skip
    return 0


def _tx(text: str) -> str:
    """The id as one path segment (whatever was typed stays one id the daemon can refuse)."""
    return quote(text, safe="")


def run_pay(args: argparse.Namespace) -> int:
    body = {"note": args.note} if args.note is not None else {}
    tx, headers = request(args, "POST", f"{API}/payouts/{_tx(args.transaction_id)}/settle", body)
    if args.json:
        print(json.dumps(tx))
        return 0
    again = "already settled" if headers.get("Idempotent-Replayed") == "true" else "settled"
    print(f"{again} {money(tx['amount'])} to {tx['subPKPId']} for payment {tx['settles']}: "
          f"transaction {tx['id']} at {tx['timestamp']}")  # fmt: skip
    return 0


def run_hold(args: argparse.Namespace) -> int:
    body = {"note": args.note} if args.note is not None else {}
    held = call(args, "POST", f"{API}/payouts/{_tx(args.transaction_id)}/hold", body)
    if args.json:
        print(json.dumps(held))
        return 0
    note = f" ({held['note']})" if held.get("note") else ""
    print(f"held payment {held['transactionId']}{note}: it settles only with "
          f"`logmarket payouts pay {held['transactionId']}`")  # fmt: skip
    return 0

"""The ``payouts list`` table: amounts to the micro-dollar, findings with their verdicts,
held and settled payouts without a settle time, and ``--limit`` checked before any call."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from logmarket.cli import build_parser
from logmarket.commands._format import table
from logmarket.commands.payouts import findings_cell, money, payout_rows


@pytest.mark.parametrize(
    ("amount", "shown"),
    [(18.21, "$18.21"), (3, "$3.00"), (0.5, "$0.50"), (0.004, "$0.004"), (1.234567, "$1.234567"),
     (Decimal("0.000001"), "$0.000001"), (0, "$0.00"), (1e-06, "$0.000001")],
)  # fmt: skip
def test_money_shows_cents_or_the_finer_part(amount: Any, shown: str) -> None:
    assert money(amount) == shown


def finding(valid: bool | None = None) -> dict[str, Any]:
    f: dict[str, Any] = {"kind": "error", "title": "t", "severity": "high", "fingerprint": "f"}
    return f if valid is None else f | {"valid": valid}


def test_findings_count_their_verdicts() -> None:
    assert findings_cell([]) == "0"
    assert findings_cell([finding(), finding()]) == "2"
    assert findings_cell([finding(False), finding()]) == "2 (1 invalid)"
    assert (
        findings_cell([finding(True), finding(False), finding(False)]) == "3 (1 valid, 2 invalid)"
    )


def test_rows_and_table() -> None:
    payouts = [
        {"transactionId": "tx_a", "subPKPId": "alice", "amount": 18.21, "status": "pending",
         "settlesAt": "2026-01-02T03:04:05Z", "analysis": {"findings": [finding()] * 6}},
        {"transactionId": "tx_bb", "subPKPId": "bob", "amount": 0.9, "status": "held",
         "settlesAt": None, "analysis": {"findings": [finding(True)]}},
    ]  # fmt: skip
    rows = payout_rows(payouts)
    assert rows == [
        ["transaction", "Sub-PKP", "amount", "status", "settles at", "findings"],
        ["tx_a", "alice", "$18.21", "pending", "2026-01-02T03:04:05Z", "6"],
        ["tx_bb", "bob", "$0.90", "held", "-", "1 (1 valid)"],
    ]
    lines = table(rows).splitlines()
    assert lines[2] == "tx_bb        bob      $0.90   held     -                     1 (1 valid)"
    column = lines[0].index("Sub-PKP")
    assert lines[1].index("alice") == lines[2].index("bob") == column


@pytest.mark.parametrize("limit", ["0", "101", "ten", "-1"])
def test_limit_is_refused_on_the_command_line(
    limit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["payouts", "list", "--limit", limit])
    assert exc.value.code == 2
    assert "a whole number from 1 to 100" in capsys.readouterr().err


def test_judge_needs_one_verdict() -> None:
    parse = build_parser().parse_args
    assert parse(["findings", "judge", "fp", "--valid"]).valid is True
    assert parse(["findings", "judge", "fp", "--invalid"]).valid is False
    for argv in (["findings", "judge", "fp"], ["findings", "judge", "fp", "--valid", "--invalid"]):
        with pytest.raises(SystemExit):
            parse(argv)

"""The payout triage over the real CLI against a real daemon: ``payouts list`` shows an
auto-payment pending for the hold, ``hold`` moves it to the held queue, ``pay`` settles it
into the balance, a reversed one is refused in one line, and ``findings judge`` records a
verdict that ``list`` shows."""

from __future__ import annotations

import json
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from logmarket.commands.payouts import money
from tests.conftest import DaemonProcess, http
from tests.integration.test_ledger_cli import cli
from tests.integration.test_market_crash import genuine_log
from tests.integration.test_novelty import fabricated

API = "/npe/log-marketplace"


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    """The default 24 h hold: nothing settles on its own while the tests run."""
    root = Path(tempfile.mkdtemp(prefix="lmp", dir="/tmp"))
    # Every new finding auto-paid (threshold 0), so each one is a pending payout.
    d = DaemonProcess(root, "--requests-per-minute", "100000", "--auto-pay-threshold", "0",
                      marketplace=True).start()  # fmt: skip
    try:
        yield d
    finally:
        d.stop()


def admin(d: DaemonProcess, *argv: str) -> Any:
    """The CLI with the daemon's address and admin token."""
    return cli(*argv, "--url", d.url, "--token", d.admin_token)


def analyze(d: DaemonProcess, log: str, sub: str) -> dict[str, Any]:
    status, a = http("POST", d.url + API + "/analyze",
                     {"source": "runtime", "logContent": log, "subPKPId": sub},
                     token=d.admin_token)  # fmt: skip
    assert status == 200, a
    return dict(a)


def pending(d: DaemonProcess, n: int, sub: str) -> str:
    """A fresh pending payout for ``sub`` (a new finding, auto-paid): its transaction id."""
    a = analyze(d, genuine_log(n), sub)
    assert a["paid"] and a["paymentAmount"] > 0, a
    return str(a["transactionId"])


def account(d: DaemonProcess, sub: str) -> dict[str, Any]:
    status, body = http("GET", d.url + API + f"/sub-pkp/{sub}", token=d.admin_token)
    assert status == 200, body
    return dict(body)


def listed(d: DaemonProcess, *argv: str) -> dict[str, Any]:
    out = admin(d, "payouts", "list", "--json", *argv)
    assert out.returncode == 0, out.stderr
    return dict(json.loads(out.stdout))


def row(stdout: str, tx: str) -> list[str]:
    """The cells of the table line of ``tx`` (the findings cell may hold spaces)."""
    (line,) = [ln for ln in stdout.splitlines() if ln.startswith(tx + " ")]
    return line.split(maxsplit=5)


def stats_row(d: DaemonProcess, sub: str) -> list[str]:
    """``sub``'s line of the top earners in ``logmarket stats``."""
    out = admin(d, "stats")
    assert out.returncode == 0, out.stderr
    assert "earned" in out.stdout and "pending" in out.stdout.splitlines()[2]
    (line,) = [ln.split() for ln in out.stdout.splitlines() if ln.split()[1:2] == [sub]]
    return line


def test_list_shows_an_auto_payment_pending(market: DaemonProcess) -> None:
    a = analyze(market, fabricated(random.Random(5)), "cli-alice")
    assert a["paid"] and a["paymentAmount"] > 0, a
    out = cli("payouts", "list", "--url", market.url, "--state-dir", str(market.state_dir))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].split() == [
        "transaction", "Sub-PKP", "amount", "status", "settles", "at", "findings"
    ]  # fmt: skip
    tx, sub, amount, status, settles_at, findings = row(out.stdout, a["transactionId"])
    assert (sub, amount, status) == ("cli-alice", money(a["paymentAmount"]), "pending")
    (payout,) = [p for p in listed(market)["payouts"] if p["transactionId"] == tx]
    assert settles_at == payout["settlesAt"] and settles_at > a["timestamp"][:19]
    assert findings == str(len(payout["analysis"]["findings"])) and int(findings) > 0
    assert "pending payout" in out.stdout.splitlines()[-1]


def test_hold_moves_it_to_the_held_list_and_pay_settles_it(market: DaemonProcess) -> None:
    tx = pending(market, 100, "cli-bob")
    amount = account(market, "cli-bob")["pending"]
    held = admin(market, "payouts", "hold", tx, "--note", "asking the seller")
    assert held.returncode == 0, held.stderr
    assert held.stdout.startswith(f"held payment {tx} (asking the seller)"), held.stdout
    out = admin(market, "payouts", "list", "--state", "held")
    assert out.returncode == 0, out.stderr
    assert row(out.stdout, tx)[1:5] == ["cli-bob", money(amount), "held", "-"]
    assert tx not in admin(market, "payouts", "list", "--all").stdout
    assert [p["note"] for p in listed(market, "--state", "held")["payouts"]
            if p["transactionId"] == tx] == ["asking the seller"]  # fmt: skip
    assert stats_row(market, "cli-bob")[2:4] == [f"${amount:.2f}"] * 2  # earned, all pending

    paid = admin(market, "payouts", "pay", tx, "--note", "checked")
    assert paid.returncode == 0, paid.stderr
    assert paid.stdout.startswith(f"settled {money(amount)} to cli-bob for payment {tx}")
    acct = account(market, "cli-bob")
    assert acct["balance"] == amount and acct["pending"] == 0, acct
    again = admin(market, "payouts", "pay", tx, "--json")
    assert again.returncode == 0, again.stderr
    settlement = json.loads(again.stdout)
    assert settlement["settles"] == tx and settlement["id"] in paid.stdout  # the same one
    assert admin(market, "payouts", "pay", tx).stdout.startswith("already settled")
    assert account(market, "cli-bob")["balance"] == amount
    assert stats_row(market, "cli-bob")[2:4] == [f"${amount:.2f}", "$0.00"]
    settled = listed(market, "--state", "settled", "--all")["payouts"]
    assert [p["status"] for p in settled if p["transactionId"] == tx] == ["settled"]


def test_paying_a_reversed_payout_fails_in_one_line(market: DaemonProcess) -> None:
    tx = pending(market, 200, "cli-carol")
    rev = admin(market, "ledger", "reverse", tx, "--reason", "made up")
    assert rev.returncode == 0, rev.stderr
    for action in ("pay", "hold"):
        out = admin(market, "payouts", action, tx)
        assert out.returncode == 1 and out.stdout == "", out
        assert len(out.stderr.strip().splitlines()) == 1, out.stderr
        assert "HTTP 409" in out.stderr and tx in out.stderr, out.stderr
    acct = account(market, "cli-carol")
    assert acct["balance"] == 0 and acct["pending"] == 0, acct
    missing = admin(market, "payouts", "pay", "tx_nope")
    assert missing.returncode == 1 and "HTTP 404" in missing.stderr, missing.stderr
    reversed_ = listed(market, "--state", "reversed")["payouts"]
    assert [p["transactionId"] for p in reversed_] == [tx]


def test_judge_marks_a_finding_and_list_shows_it(market: DaemonProcess) -> None:
    tx = pending(market, 300, "cli-dave")
    (payout,) = [p for p in listed(market, "--all")["payouts"] if p["transactionId"] == tx]
    fingerprint = payout["analysis"]["findings"][0]["fingerprint"]
    assert "valid" not in payout["analysis"]["findings"][0]
    out = admin(market, "findings", "judge", fingerprint, "--invalid", "--note", "test data")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"finding {fingerprint} judged invalid (test data)"
    (payout,) = [p for p in listed(market, "--all")["payouts"] if p["transactionId"] == tx]
    judged = [f for f in payout["analysis"]["findings"] if f["fingerprint"] == fingerprint]
    assert judged and all(f["valid"] is False for f in judged)
    table = admin(market, "payouts", "list", "--all").stdout
    assert row(table, tx)[5].endswith(f"({len(judged)} invalid)")

    unknown = admin(market, "findings", "judge", "nope", "--valid")
    assert unknown.returncode == 1 and "HTTP 404" in unknown.stderr, unknown.stderr
    assert admin(market, "findings", "judge", fingerprint).returncode == 2  # no verdict given


def test_all_follows_the_pages(market: DaemonProcess) -> None:
    mine = {pending(market, 400 + i, "cli-erin") for i in range(3)}
    everything = listed(market, "--limit", "100")
    assert everything["nextBefore"] is None and mine <= {
        p["transactionId"] for p in everything["payouts"]
    }
    paged = listed(market, "--limit", "1", "--all")
    assert paged["nextBefore"] is None
    assert [p["transactionId"] for p in paged["payouts"]] == [
        p["transactionId"] for p in everything["payouts"]
    ]
    first = admin(market, "payouts", "list", "--limit", "1")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[-1].endswith("more with --all (or a larger --limit)")
    assert admin(market, "payouts", "list", "--limit", "0").returncode == 2

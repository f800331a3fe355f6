"""A crash during batch-analyze followed by the client's retry pays each log once.

A real daemon (auto-pay on for every priced log, so the batch's payments are made in the
request's own transaction) is sent a batch of 50 logs, each with a finding nobody reported
before, and is SIGKILLed while the request is in flight: at once, when the store's WAL first
moves (the commit under way), as soon as a reader sees the batch committed (its answer
perhaps not yet sent), or after the answer came back (an answer the client lost). It
restarts on the same state directory and the client retries the same batch, with the same
``Idempotency-Key`` or, in the second variant, without one. Wherever the kill landed, the
batch was recorded whole or not at all, each log is paid exactly once (per content and per
analysis), the Sub-PKP's balance is the sum of those payments, and ``logmarket ledger
verify`` finds the signed chain intact.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"
TRACEBACK = {name: content for name, _, content in SAMPLES}["runtime-traceback.log"]
LOGS = 50
KILLS = ("at-once", "wal-moved", "committed", "answered")
_CONSONANTS, _VOWELS = "ghjklmnprstvwz", "aiou"  # a syllable is never hex nor a number


def word(i: int) -> str:
    """A name made of letters only (fingerprints mask numbers, hex and ids, not words)."""
    out = ""
    for _ in range(3):
        i, c = divmod(i, len(_CONSONANTS))
        i, v = divmod(i, len(_VOWELS))
        out += _CONSONANTS[c] + _VOWELS[v]
    return out


def genuine_log(n: int) -> str:
    """The sample traceback raised from a module and function of its own: a new finding."""
    name = word(n)
    return TRACEBACK.replace("api/repo.py", f"api/{name}_store.py").replace(
        "create_order", f"create_{name}"
    )


def batch(first: int) -> list[dict[str, str]]:
    return [{"source": "runtime", "content": genuine_log(first + i)} for i in range(LOGS)]


class InFlight(threading.Thread):
    """One batch-analyze in a thread: its answer, or the error a killed daemon gives."""

    def __init__(self, d: DaemonProcess, body: dict[str, Any], headers: dict[str, str]) -> None:
        super().__init__(daemon=True)
        self.d, self.body, self.headers = d, body, headers
        self.answer: tuple[int, Any] | None = None
        self.error: OSError | None = None

    def run(self) -> None:
        try:
            self.answer = post_batch(self.d, self.body, self.headers)
        except OSError as exc:  # the connection died with the daemon
            self.error = exc


def post_batch(d: DaemonProcess, body: dict[str, Any], headers: dict[str, str]) -> tuple[int, Any]:
    return http("POST", d.url + API + "/batch-analyze", body, token=d.admin_token,
                headers=headers, timeout=120)  # fmt: skip


def wal_state(d: DaemonProcess) -> tuple[int, int]:
    wal = d.db.with_name(d.db.name + "-wal")
    with contextlib.suppress(FileNotFoundError):
        st = wal.stat()
        return st.st_size, st.st_mtime_ns
    return 0, 0


def crash_during(
    d: DaemonProcess, body: dict[str, Any], headers: dict[str, str], kill: str
) -> None:
    """Send the batch and SIGKILL the daemon at the point ``kill`` names (or as near to it
    as the request allows: a request that finished first is killed after its answer)."""
    before = wal_state(d)
    sender = InFlight(d, body, headers)
    sender.start()
    deadline = time.monotonic() + 60
    if kill == "wal-moved":  # the store's first write for this request
        while sender.is_alive() and wal_state(d) == before and time.monotonic() < deadline:
            time.sleep(0.0005)
    elif kill == "committed":  # the batch visible to a reader, its answer maybe not sent yet
        sub = body["subPKPId"]
        while sender.is_alive() and not analysis_ids(d, sub) and time.monotonic() < deadline:
            time.sleep(0.0005)
    elif kill == "answered":
        sender.join(120)
    d.kill(signal.SIGKILL)
    sender.join(120)
    assert not sender.is_alive()
    if sender.answer is not None:  # answered before the kill: a whole, ordinary answer
        status, answer = sender.answer
        assert status == 200 and answer["totalLogs"] == LOGS, answer


def per_content(d: DaemonProcess, sub: str) -> dict[str, tuple[int, int, int]]:
    """content SHA-256 -> (analyses, payments, paid micros) of this Sub-PKP."""
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        rows = conn.execute(
            "SELECT a.content_sha256, COUNT(DISTINCT a.id), COUNT(t.id),"
            " COALESCE(SUM(t.amount_micros), 0) FROM analyses a"
            " LEFT JOIN transactions t ON t.analysis_id = a.id AND t.reverses IS NULL"
            " WHERE a.sub_pkp_id = ? GROUP BY a.content_sha256",
            (sub,),
        ).fetchall()
    return {str(h): (int(n), int(p), int(m)) for h, n, p, m in rows}


def payments_per_analysis(d: DaemonProcess, sub: str) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        rows = conn.execute(
            "SELECT analysis_id, COUNT(*) FROM transactions WHERE sub_pkp_id = ?"
            " AND reverses IS NULL GROUP BY analysis_id",
            (sub,),
        ).fetchall()
    return {str(a): int(n) for a, n in rows}


def balance_micros(d: DaemonProcess, sub: str) -> int:
    """What the Sub-PKP was credited: its settled and its pending account."""
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        row = conn.execute(
            "SELECT SUM(balance_micros) FROM balances WHERE account IN (?, ?)",
            (f"sub-pkp:{sub}", f"pending:sub-pkp:{sub}"),
        ).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


@pytest.mark.parametrize("with_key", [True, False], ids=["same-idempotency-key", "no-key"])
def test_a_crash_during_batch_analyze_and_a_retry_pay_each_log_once(
    short_tmp: Path, with_key: bool
) -> None:
    d = DaemonProcess(short_tmp, "--requests-per-minute", "100000", "--auto-pay-threshold", "0",
                      marketplace=True).start()  # fmt: skip
    try:
        for round_no, kill in enumerate(KILLS):
            sub = f"crash-{round_no}"
            body = {"subPKPId": sub, "logs": batch(1000 * (2 * round_no + with_key))}
            headers = {"Idempotency-Key": f"batch-{round_no}"} if with_key else {}
            crash_during(d, body, headers, kill)
            d.start()

            recorded = per_content(d, sub)
            assert len(recorded) in (0, LOGS), recorded  # the batch whole, or not at all
            status, answer = post_batch(d, body, headers)
            assert status == 200 and answer["totalLogs"] == LOGS, answer

            contents = per_content(d, sub)
            assert len(contents) == LOGS, (kill, contents)
            assert all(payments == 1 and micros > 0 for _, payments, micros in contents.values()), (
                kill, contents,
            )  # fmt: skip
            assert set(payments_per_analysis(d, sub).values()) == {1}
            total = sum(micros for _, _, micros in contents.values())
            assert balance_micros(d, sub) == total
            status, account = http("GET", f"{d.url}{API}/sub-pkp/{sub}", token=d.admin_token)
            assert status == 200
            credited = Decimal(str(account["balance"])) + Decimal(str(account["pending"]))
            assert credited == (Decimal(total) / 10**6).quantize(Decimal("0.01"))
            if with_key:  # the retry answers what was paid: the first answer or its own
                assert Decimal(str(answer["totalPaid"])) * 10**6 == total, (kill, answer)
                assert {a["id"] for a in answer["analyses"]} == set(analysis_ids(d, sub))
    finally:
        d.stop()
    out = subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "ledger", "verify", "--state-dir",
         str(d.state_dir)], capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.startswith("ledger intact:"), out.stdout


def analysis_ids(d: DaemonProcess, sub: str) -> list[str]:
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        rows = conn.execute("SELECT id FROM analyses WHERE sub_pkp_id = ?", (sub,)).fetchall()
    return [str(r[0]) for r in rows]

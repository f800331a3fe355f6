"""Retention end to end: a real daemon analyses, pays and mines templates; stopped, its rows
are aged in the SQLite file past the retention; restarted, its start-up pruning takes the log
text out (evidence lines, template examples, windows, kept answers, old events) and keeps
every money and novelty row, and ``logmarket ledger verify`` still finds the ledger intact.
Template examples never held the IPs and e-mail addresses of the records to begin with."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http, wait_for
from tests.integration.test_windows import send_batches

API = "/npe/log-marketplace"
DAY = 86400
TRACEBACK = {name: content for name, _, content in SAMPLES}["runtime-traceback.log"]
EVIDENCE_ONLY = "fetchrow(INSERT_ORDER"  # in an evidence line of TRACEBACK, in no finding
# The last record ends its stream: the window closes while its inbox row is being read, so
# the row stays until another window closes (retention takes it out).
LOGINS: list[dict[str, object]] = [
    {"message": f"login failed for user{i}@example.com from 203.0.113.{i}"} for i in range(1, 6)
]
LOGINS[-1]["eof"] = True
KEPT = [
    "SELECT id, value_score, quality, payment_micros, paid, paid_at FROM analyses ORDER BY id",
    "SELECT * FROM transactions ORDER BY id",
    "SELECT * FROM ledger_entries ORDER BY id",
    "SELECT * FROM ledger_chain ORDER BY seq",
    "SELECT * FROM findings_seen ORDER BY fingerprint",
    "SELECT * FROM balances ORDER BY account",
    "SELECT * FROM templates ORDER BY template_id",
]


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql).fetchall()


def verify(d: DaemonProcess) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "ledger", "verify", "--state-dir",
         str(d.state_dir)], capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def evidence(body: str) -> list[Any]:
    insights = json.loads(body)["aiInsights"]
    return [e for kind in insights.values() for f in kind for e in f["evidence"]]


def fill(d: DaemonProcess) -> None:
    """Records with PII through the socket (a window, its templates) and a paid analysis
    over the API under an Idempotency-Key."""
    send_batches(d.socket, "c1", [LOGINS], key=d.make_key("pia"))
    assert wait_for(lambda: query(d.db, "SELECT COUNT(*) FROM windows")[0][0] >= 1, 30)
    status, a = http("POST", d.url + API + "/analyze",
                     {"source": "runtime", "logContent": TRACEBACK, "subPKPId": "pia"},
                     token=d.admin_token, headers={"Idempotency-Key": "ret-1"})  # fmt: skip
    assert status == 200 and a["paymentAmount"] > 0 and evidence(json.dumps(a)), a
    status, tx = http("POST", d.url + API + f"/pay/{a['id']}", token=d.admin_token)
    assert status == 200, tx


def test_template_examples_hold_no_pii_by_default(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp, "--window-seconds", "1", marketplace=True).start()
    try:
        send_batches(d.socket, "c1", [LOGINS], key=d.make_key("pia"))
        assert wait_for(lambda: query(d.db, "SELECT COUNT(*) FROM windows")[0][0] >= 1, 30)
    finally:
        d.stop()
    digests = [json.loads(r[0]) for r in query(d.db, "SELECT digest FROM windows")]
    examples = json.dumps([e["examples"] for dg in digests for e in dg])
    assert "<REDACTED:ipv4:" in examples and "<REDACTED:email:" in examples, examples
    assert "203.0.113." not in examples and "@example.com" not in examples, examples


def test_a_restart_past_the_retention_prunes_the_text_and_keeps_the_money(
    short_tmp: Path,
) -> None:
    d = DaemonProcess(short_tmp, "--window-seconds", "1", marketplace=True).start()
    try:
        fill(d)
    finally:
        d.stop()
    assert verify(d).returncode == 0
    kept = [query(d.db, sql) for sql in KEPT]
    assert kept[1] and kept[4]  # a payment and the findings it claimed
    assert any(evidence(b) for (b,) in query(d.db, "SELECT body FROM analyses"))
    for table in ("windows", "idempotency_keys", "events", "inbox"):
        assert query(d.db, f"SELECT COUNT(*) FROM {table}")[0][0] >= 1, table
    with contextlib.closing(sqlite3.connect(d.db, isolation_level=None)) as conn:
        for table in ("analyses", "windows", "idempotency_keys", "events"):
            conn.execute(f"UPDATE {table} SET created = created - {31 * DAY}")
        conn.execute(f"UPDATE inbox SET received = received - {31 * DAY}")

    d.start()
    try:
        pruned = 'logmarket_retention_pruned_total{table="analyses"}'
        assert wait_for(lambda: d.metrics().get(pruned, 0) >= 2, 30), d.metrics()
    finally:
        d.stop()

    bodies = [b for (b,) in query(d.db, "SELECT body FROM analyses")]
    assert len(bodies) >= 2 and not any(evidence(b) for b in bodies)
    assert all(EVIDENCE_ONLY not in b for b in bodies)
    for table in ("windows", "idempotency_keys", "events", "inbox"):
        assert query(d.db, f"SELECT COUNT(*) FROM {table}") == [(0,)], table
    assert [query(d.db, sql) for sql in KEPT] == kept
    raw = b"".join(p.read_bytes() for p in d.state_dir.glob("logmarket.db*"))
    assert EVIDENCE_ONLY.encode() not in raw and b"203.0.113." not in raw
    out = verify(d)
    assert out.returncode == 0 and out.stdout.startswith("ledger intact:"), out.stdout + out.stderr
    assert "retention pruned" in d.log.read_text()

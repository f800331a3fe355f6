"""The signed ledger end to end: a real daemon pays, the CLI reverses over HTTP, the public
key comes from the endpoint, and ``logmarket ledger verify`` checks the real SQLite file
offline (intact, then edited)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"
TRACEBACK = {name: content for name, _, content in SAMPLES}["runtime-traceback.log"]


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    root = Path(tempfile.mkdtemp(prefix="lml", dir="/tmp"))
    d = DaemonProcess(root, "--requests-per-minute", "100000", marketplace=True).start()
    try:
        yield d
    finally:
        d.stop()


def cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", *argv], capture_output=True, text=True, timeout=60
    )


def paid(d: DaemonProcess, sub: str) -> dict[str, Any]:
    """A payment for a fresh analysis of ``sub`` (a traceback in a file of its own: a new
    finding, since a known one is credited nothing)."""
    token = d.admin_token
    log = TRACEBACK.replace("api/repo.py", f"api/{sub}.py")
    status, a = http("POST", d.url + API + "/analyze",
                     {"source": "runtime", "logContent": log, "subPKPId": sub}, token=token)  # fmt: skip
    assert status == 200 and a["paymentAmount"] > 0, a
    status, tx = http("POST", d.url + API + f"/pay/{a['id']}", token=token)
    assert status == 200, tx
    return dict(tx)


def test_the_public_key_endpoint_serves_the_key_verify_uses(market: DaemonProcess) -> None:
    paid(market, "pk")
    status, body = http("GET", market.url + API + "/ledger/public-key", token=market.admin_token)
    assert status == 200, body
    assert body["algorithm"] == "Ed25519"
    assert body["pem"] == (market.state_dir / "ledger.pub").read_text()
    assert body["head"]["sequence"] >= 1 and len(body["head"]["hash"]) == 64
    pinned = market.root / "pinned.pub"
    pinned.write_text(body["publicKey"] + "\n")
    out = cli("ledger", "verify", "--state-dir", str(market.state_dir), "--public-key", str(pinned))
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("ledger intact:"), out.stdout


def test_reverse_over_the_cli_is_signed_and_takes_back_the_points(market: DaemonProcess) -> None:
    tx = paid(market, "rev")
    argv = ("ledger", "reverse", tx["id"], "--reason", "duplicate submission",
            "--url", market.url, "--token", market.admin_token)  # fmt: skip
    first = cli(*argv)
    assert first.returncode == 0, first.stderr
    assert f"of transaction {tx['id']} for rev" in first.stdout and "duplicate" in first.stdout
    again = cli(*argv, "--json")
    assert again.returncode == 0, again.stderr
    reversal = json.loads(again.stdout)
    assert reversal["reverses"] == tx["id"] and reversal["id"] in first.stdout  # the same one
    with sqlite3.connect(market.db) as conn:
        (points,) = conn.execute(
            "SELECT points_micro FROM game_state WHERE sub_pkp_id = 'rev'"
        ).fetchone()
        (n,) = conn.execute(
            "SELECT COUNT(*) FROM transactions WHERE reverses = ?", (tx["id"],)
        ).fetchone()
    assert points == 0 and n == 1
    status, body = http("POST", market.url + API + f"/transactions/{reversal['id']}/reverse",
                        {"reason": "x"}, token=market.admin_token)  # fmt: skip
    assert status == 409 and body["error"] == "not-reversible", body
    out = cli("ledger", "verify", "--state-dir", str(market.state_dir), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    assert report["ok"] and report["transactions"] >= 2


def test_reverse_refusals(market: DaemonProcess) -> None:
    tx = paid(market, "refused")
    url = market.url + API + f"/transactions/{tx['id']}/reverse"
    key = cli("keys", "create", "refused", "--state-dir", str(market.state_dir)).stdout.strip()
    assert http("POST", url, {"reason": "x"}, token=key)[0] == 403
    assert http("POST", url, {}, token=market.admin_token)[0] == 422
    assert http("POST", url, {"reason": ""}, token=market.admin_token)[0] == 422
    missing = market.url + API + "/transactions/tx_nope/reverse"
    assert http("POST", missing, {"reason": "x"}, token=market.admin_token)[0] == 404
    out = cli("ledger", "reverse", "tx_nope", "--reason", "x", "--url", market.url,
              "--token", market.admin_token)  # fmt: skip
    assert out.returncode == 1 and "404" in out.stderr, out.stderr


def test_verify_names_an_entry_edited_in_the_file(short_tmp: Path) -> None:
    """Last: the daemon stopped, one entry edited behind its back; verify exits 1 naming it."""
    d = DaemonProcess(short_tmp, marketplace=True).start()
    try:
        paid(d, "edited")
    finally:
        d.stop()
    state = str(d.state_dir)
    assert cli("ledger", "verify", "--state-dir", state).returncode == 0
    conn = sqlite3.connect(d.db, isolation_level=None)
    conn.execute("DROP TRIGGER ledger_entries_immutable_u")
    conn.execute("UPDATE ledger_entries SET amount_micros = amount_micros * 2 WHERE id = 2")
    conn.close()
    out = cli("ledger", "verify", "--state-dir", state)
    assert out.returncode == 1, out.stdout + out.stderr
    assert out.stdout.startswith("ledger NOT intact: link 1:"), out.stdout
    assert len(out.stdout.strip().splitlines()) == 1
    missing = cli("ledger", "verify", "--state-dir", state, "--public-key", "/nonexistent")
    assert missing.returncode == 2 and "public key" in missing.stderr

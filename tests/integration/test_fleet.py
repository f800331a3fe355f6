"""A fleet: three real daemons (each its own state directory, inbox and socket) on one real
PostgreSQL, the marketplace shared. The contract: ``logmarketd --store postgresql://…`` or
``LOGMARKET_STORE``."""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from logmarketd.market.chain import verify_ledger
from logmarketd.market.signing import load_public_key
from logmarketd.samples import SAMPLES
from logmarketd.store.keys import create_key

from tests.conftest import REPO, DaemonProcess, http, http_get, wait_for
from tests.store.pgserver import PgServer, pg_server, running_postgres  # noqa: F401

API = "/npe/log-marketplace"
SAMPLE = {name: content for name, _, content in SAMPLES}


class FleetDaemon(DaemonProcess):
    """A daemon whose store is given by the environment (LOGMARKET_STORE) when asked."""

    env: dict[str, str] | None = None

    def start(self, wait: bool = True) -> DaemonProcess:
        if self.env is None:
            return super().start(wait)
        saved = dict(os.environ)
        os.environ.update(self.env)
        try:
            return super().start(wait)
        finally:
            os.environ.clear()
            os.environ.update(saved)


@pytest.fixture(scope="module")
def fleet(pg_server: PgServer) -> Iterator[list[DaemonProcess]]:  # noqa: F811
    """Three daemons on one new database: two given ``--store``, one ``LOGMARKET_STORE``;
    they share the marketplace's signing key (the first one's), as a fleet must."""
    dsn = pg_server.create_database()
    roots = [Path(tempfile.mkdtemp(prefix=f"lmf{i}", dir="/tmp")) for i in range(3)]
    limits = ("--max-logs-per-hour", "100000", "--requests-per-minute", "100000")
    daemons: list[DaemonProcess] = []
    try:
        for i, root in enumerate(roots):
            if i:
                (root / "state").mkdir(parents=True)
                shutil.copy(roots[0] / "state" / "ledger.key", root / "state" / "ledger.key")
            if i == 2:
                d = FleetDaemon(root, *limits, marketplace=True)
                d.env = {"LOGMARKET_STORE": dsn}
            else:
                d = DaemonProcess(root, "--store", dsn, *limits, marketplace=True)
            daemons.append(d.start())
        yield daemons
    finally:
        for d in daemons:
            d.stop()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)


def dsn_of(d: DaemonProcess) -> str:
    if isinstance(d, FleetDaemon) and d.env:
        return d.env["LOGMARKET_STORE"]
    return d.extra[d.extra.index("--store") + 1]


def distinct_traceback(i: int) -> str:
    """The traceback sample as a new finding (another place, another key, another service;
    in letters: digits are masked)."""
    word = "".join(chr(ord("a") + int(c)) for c in f"{i:02d}")
    log = SAMPLE["runtime-traceback.log"].replace("repo.py", f"repo{word}.py")
    log = log.replace("KeyError: 'customer_id'", f"KeyError: 'field_{word}'")
    return log.replace("orders", f"{word}ledger").replace("api.server", f"{word}.server")


def analyze(d: DaemonProcess, content: str, sub: str) -> dict[str, Any]:
    body = {"source": "runtime", "logContent": content, "subPKPId": sub}
    status, a = http("POST", d.url + API + "/analyze", body, token=d.admin_token)
    assert status == 200, a
    return dict(a)


def test_the_same_finding_through_two_daemons_earns_its_bonus_once(
    fleet: list[DaemonProcess],
) -> None:
    log = SAMPLE["runtime-nginx-attacks.log"].replace("198.51.100.23", "192.0.2.91")
    first = analyze(fleet[0], log, "carol")
    again = analyze(fleet[1], log, "dave")
    assert "uniqueness" in first["pricing"]["bonuses"]
    assert "uniqueness" not in again["pricing"]["bonuses"]
    assert again["paymentAmount"] < first["paymentAmount"]
    # Each daemon answers for the whole fleet.
    status, seen = http("GET", fleet[2].url + API + "/sub-pkp/carol", token=fleet[2].admin_token)
    assert status == 200 and [t["analysisId"] for t in seen["transactions"]] == [first["id"]]


def test_200_pays_over_20_analyses_across_three_daemons_make_20_payments(
    fleet: list[DaemonProcess],
) -> None:
    """Twenty analyses recorded through the three daemons, then ten pays of each, all at once
    and spread across the daemons: one payment per analysis, the same one to every payer;
    the ledger reconciles and its signed chain verifies."""
    ids = []
    for i in range(20):
        a = analyze(fleet[i % 3], distinct_traceback(i), f"sub{i % 4}")
        assert a["paymentAmount"] > 0, (i, a["pricing"], a["quality"], a["valueScore"])
        ids.append(a["id"])
    calls = [(fleet[i % 3], ids[i % 20]) for i in range(200)]
    random.Random(5).shuffle(calls)

    def pay(call: tuple[DaemonProcess, str]) -> tuple[str, str]:
        d, aid = call
        status, tx = http("POST", d.url + API + f"/pay/{aid}", None, token=d.admin_token)
        assert status == 200, tx
        return aid, str(tx["id"])

    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        paid = list(pool.map(pay, calls))
    by_analysis: dict[str, set[str]] = {}
    for aid, tx_id in paid:
        by_analysis.setdefault(aid, set()).add(tx_id)
    assert len(by_analysis) == 20 and all(len(v) == 1 for v in by_analysis.values())
    dsn = dsn_of(fleet[0])
    with psycopg.connect(dsn) as conn:
        (payments,) = conn.execute(
            "SELECT COUNT(*) FROM transactions WHERE reverses IS NULL AND settles IS NULL"
            " AND analysis_id = ANY(%s)",
            (ids,),
        ).fetchone() or (0,)
        bad = conn.execute(
            "SELECT b.account FROM balances b LEFT JOIN (SELECT account, SUM(amount_micros) s"
            " FROM ledger_entries GROUP BY account) e ON e.account = b.account"
            " WHERE b.balance_micros <> COALESCE(e.s, 0)"
        ).fetchall()
    assert payments == 20 and bad == []
    report = verify_ledger(dsn, load_public_key((fleet[0].state_dir / "ledger.pub").read_text()))
    assert report.ok, report.problems


def test_every_daemon_keeps_its_own_inbox_and_windows(fleet: list[DaemonProcess]) -> None:
    """The shared store holds no inbox; each daemon's SQLite file keeps its own."""
    with psycopg.connect(dsn_of(fleet[0])) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        )}  # fmt: skip
    assert {"analyses", "transactions", "ledger_chain", "events", "api_keys"} <= tables
    assert not tables & {"inbox", "windows", "window_cursors", "templates", "clients"}
    for d in fleet:
        assert d.db.is_file()
        assert (d.state_dir / "instance.id").read_text().strip()
    ids = {(d.state_dir / "instance.id").read_text().strip() for d in fleet}
    assert len(ids) == 3


def test_a_window_from_a_daemons_socket_is_recorded_once_in_the_shared_store(
    fleet: list[DaemonProcess],
) -> None:
    """Records sent to one daemon's socket (a key made in the shared store) are analysed in
    a window: the analysis is in the shared store, credited, and the window's row in that
    daemon's own SQLite file names it; another daemon answers for it."""
    d = fleet[1]
    key = create_key(dsn_of(d), "erin")
    log = REPO / "daemon" / "logmarketd" / "samples" / "runtime-traceback.log"
    subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "send", str(log), "--source", "runtime",
         "--socket", str(d.socket), "--key", key],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip

    def analyses() -> list[dict[str, Any]]:
        status, body = http("GET", fleet[0].url + API + "/sub-pkp/erin", token=fleet[0].admin_token)
        assert status == 200, body
        return list(body["analyses"])

    assert wait_for(lambda: len(analyses()) == 1, 30)
    (found,) = analyses()
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        windows = conn.execute("SELECT analysis_id FROM windows").fetchall()
        local = conn.execute("SELECT COUNT(*) FROM analyses").fetchone()
    assert windows == [(found["id"],)] and local == (0,)
    with psycopg.connect(dsn_of(d)) as pg:
        kept = pg.execute(
            "SELECT response FROM idempotency_keys WHERE key LIKE 'window:%%'"
        ).fetchall()
    assert kept == [(json.dumps(found["id"]),)]


def test_every_daemons_event_stream_sees_a_payment_made_through_another(
    fleet: list[DaemonProcess],
) -> None:
    """A payment made through one daemon reaches the live /events of the other two (the
    shared outbox, LISTEN/NOTIFY), once each."""
    streams = []
    for d in fleet[1:]:
        sock = socket.create_connection(("127.0.0.1", d.port), timeout=20)
        sock.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {d.admin_token}"
                     "\r\nAccept: text/event-stream\r\n\r\n".encode())  # fmt: skip
        streams.append(sock)
    try:
        heads = [sock.recv(4096).decode() for sock in streams]
        assert all(" 200 " in h.splitlines()[0] for h in heads), heads
        a = analyze(fleet[0], distinct_traceback(77), "sse-sub")
        assert a["paymentAmount"] > 0 and a["paid"], a["pricing"]
        for sock, head in zip(streams, heads, strict=True):
            buf, deadline = head, time.monotonic() + 20
            while time.monotonic() < deadline and a["id"] not in buf:
                buf += sock.recv(65536).decode()
            assert a["id"] in buf and "event: log.payment.executed" in buf, buf[-2000:]
            executed = [b for b in buf.split("\n\n") if "log.payment.executed" in b]
            assert sum(a["id"] in b for b in executed) == 1
    finally:
        for sock in streams:
            sock.close()


def test_a_daemon_with_another_signing_key_is_refused(
    fleet: list[DaemonProcess], short_tmp: Path
) -> None:
    """A daemon whose ledger.key is not the fleet's would break the one chain: it stops at
    start, saying what to do."""
    assert fleet[0].proc is not None
    d = DaemonProcess(short_tmp, "--store", dsn_of(fleet[0]), marketplace=True).start(wait=False)
    assert d.proc is not None
    assert d.proc.wait(60) == 1
    d.proc = None
    assert "copy the fleet's ledger.key" in d.log.read_text()


def test_healthz_fails_while_the_store_is_down_and_ingest_goes_on(short_tmp: Path) -> None:
    """PostgreSQL stopped under a running daemon: /healthz answers 503 naming the store, a
    file sent to the socket is still acknowledged (the inbox keeps it); PostgreSQL back:
    /healthz recovers and the window is analysed into the shared store."""
    with running_postgres() as server:
        dsn = server.create_database()
        d = DaemonProcess(short_tmp, "--store", dsn, "--window-seconds", "1",
                          marketplace=True).start()  # fmt: skip
        try:
            server.stop()
            assert wait_for(lambda: http_get(d.url + "/healthz")[0] == 503, 30)
            status, body = http("GET", d.url + "/healthz")
            assert status == 503 and body["stage"] == "store" and "unreachable" in body["error"]
            log = REPO / "daemon" / "logmarketd" / "samples" / "runtime-traceback.log"
            sent = subprocess.run(
                [sys.executable, "-m", "logmarket.cli", "send", str(log), "--source",
                 "runtime", "--socket", str(d.socket)],
                capture_output=True, text=True, timeout=60,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr  # acknowledged while the store is down
            server.start()
            assert wait_for(lambda: http_get(d.url + "/healthz")[0] == 200, 30)

            def analysed() -> int:
                with psycopg.connect(dsn) as conn:
                    row = conn.execute("SELECT COUNT(*) FROM analyses").fetchone()
                return int(row[0]) if row else 0

            assert wait_for(lambda: analysed() == 1, 60)
        finally:
            d.stop()


def test_webhooks_deliver_each_fleet_event_once(
    pg_server: PgServer,  # noqa: F811
) -> None:
    """Two daemons with the same webhook: payments made through each reach the receiver,
    every event once (one daemon delivers the fleet's outbox at a time)."""
    from tests.integration.test_webhook_delivery import SECRET, Receiver

    receiver = Receiver()
    receiver.accepting = True
    dsn = pg_server.create_database()
    roots = [Path(tempfile.mkdtemp(prefix=f"lmw{i}", dir="/tmp")) for i in range(2)]
    args = ("--store", dsn, "--webhook-url", receiver.url, "--webhook-secret", SECRET,
            "--webhook-max-backoff", "0.5")  # fmt: skip
    daemons: list[DaemonProcess] = []
    try:
        for i, root in enumerate(roots):
            if i:
                (root / "state").mkdir(parents=True)
                shutil.copy(roots[0] / "state" / "ledger.key", root / "state" / "ledger.key")
            daemons.append(DaemonProcess(root, *args, marketplace=True).start())
        paid = [analyze(d, distinct_traceback(90 + i), f"hook{i}") for i, d in enumerate(daemons)]
        assert all(a["paid"] for a in paid), [a["pricing"] for a in paid]

        def executed() -> set[str]:
            return {e["body"]["data"]["analysisId"] for e in receiver.accepted
                    if e["body"]["type"] == "log.payment.executed"}  # fmt: skip

        assert wait_for(lambda: executed() == {a["id"] for a in paid}, 60), receiver.accepted
        wait_for(lambda: False, 2.0)  # time for any duplicate to show up
    finally:
        for d in daemons:
            d.stop()
        receiver.server.shutdown()
        receiver.server.server_close()
        for root in roots:
            shutil.rmtree(root, ignore_errors=True)
    ids = [e["id"] for e in receiver.accepted]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert all(e["ok"] for e in receiver.accepted), "bad signature"


def test_sigkill_of_a_daemon_and_a_restart_of_postgresql_lose_nothing(short_tmp: Path) -> None:
    """A payment made through one daemon; a log acknowledged by the other, which is then
    SIGKILLed; PostgreSQL restarted; the killed daemon started again: the payment is there,
    and the log is analysed, recorded and paid once."""
    with running_postgres() as server:
        dsn = server.create_database()
        a = DaemonProcess(short_tmp / "a", "--store", dsn, "--window-seconds", "1",
                          "--auto-pay-threshold", "0", marketplace=True).start()  # fmt: skip
        (short_tmp / "b" / "state").mkdir(parents=True)
        shutil.copy(a.state_dir / "ledger.key", short_tmp / "b" / "state" / "ledger.key")
        b = DaemonProcess(short_tmp / "b", "--store", dsn, marketplace=True).start()
        try:
            before = analyze(b, distinct_traceback(60), "before")
            assert before["paid"], before["pricing"]
            log = short_tmp / "app.log"
            log.write_text(distinct_traceback(61))
            subprocess.run(
                [sys.executable, "-m", "logmarket.cli", "send", str(log), "--source", "runtime",
                 "--socket", str(a.socket), "--key", create_key(dsn, "kept")],
                capture_output=True, text=True, timeout=60, check=True,
            )  # fmt: skip
            a.kill(signal.SIGKILL)  # acknowledged; analysed or not, we do not know
            server.stop()
            server.start()
            a.start()
            assert wait_for(lambda: b.healthy(), 30)

            def kept() -> list[tuple[str, int]]:
                with psycopg.connect(dsn) as conn:
                    return [(str(r[0]), int(r[1])) for r in conn.execute(
                        "SELECT id, paid FROM analyses WHERE sub_pkp_id = 'kept'")]  # fmt: skip

            assert wait_for(lambda: len(kept()) == 1 and kept()[0][1] == 1, 60), kept()
            wait_for(lambda: False, 2.0)  # time for a second analysis to show up
            with psycopg.connect(dsn) as conn:
                payments = conn.execute(
                    "SELECT analysis_id FROM transactions WHERE reverses IS NULL"
                    " AND settles IS NULL ORDER BY analysis_id"
                ).fetchall()
            assert len(kept()) == 1
            assert sorted(payments) == sorted([(before["id"],), (kept()[0][0],)])
        finally:
            a.stop()
            b.stop()


def cli(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``logmarket`` CLI, with ``env`` added to this process's environment."""
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", *argv], capture_output=True, text=True,
        timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip


def test_keys_made_and_revoked_by_the_cli_in_the_shared_store_hold_on_every_daemon(
    fleet: list[DaemonProcess],
) -> None:
    """``logmarket keys create --store DSN``: the key is good on every daemon of the fleet;
    ``logmarket keys revoke`` with ``LOGMARKET_STORE``: refused on every daemon."""
    dsn = dsn_of(fleet[0])
    made = cli("keys", "create", "frank", "--store", dsn)
    assert made.returncode == 0, made.stderr
    key = made.stdout.strip()
    for d in fleet:
        status, body = http("GET", d.url + API + "/sub-pkp/frank", token=key)
        assert status == 200, body
    revoked = cli("keys", "revoke", key.split("_")[1], env={"LOGMARKET_STORE": dsn})
    assert revoked.returncode == 0, revoked.stderr
    assert "revoked key" in revoked.stdout and "'frank'" in revoked.stdout
    for d in fleet:
        assert http("GET", d.url + API + "/sub-pkp/frank", token=key)[0] == 401


def test_keys_create_on_a_new_shared_store_makes_its_schema_first(
    pg_server: PgServer,  # noqa: F811
) -> None:
    """A key made before any daemon has started on the database (as with the embedded store)."""
    dsn = pg_server.create_database()
    made = cli("keys", "create", "early", env={"LOGMARKET_STORE": dsn})
    assert made.returncode == 0, made.stderr
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT key_id, sub_pkp_id FROM api_keys").fetchall()
    assert rows == [(made.stdout.strip().split("_")[1], "early")]
    none = cli("keys", "revoke", "nobody", "--store", dsn)
    assert none.returncode == 1 and "no key and no Sub-PKP" in none.stderr, none.stderr


def test_ledger_verify_checks_the_fleets_shared_ledger(fleet: list[DaemonProcess]) -> None:
    """``logmarket ledger verify --store DSN``: the fleet's one chain, against the fleet's
    ``ledger.pub``, from the CLI."""
    paid = analyze(fleet[1], distinct_traceback(81), "verify-sub")
    assert paid["paid"], paid["pricing"]
    dsn = dsn_of(fleet[0])
    pub = str(fleet[0].state_dir / "ledger.pub")
    out = cli("ledger", "verify", "--store", dsn, "--public-key", pub, "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    report = json.loads(out.stdout)
    with psycopg.connect(dsn) as conn:
        (txs,) = conn.execute("SELECT COUNT(*) FROM transactions").fetchone() or (0,)
    assert report["ok"] and report["transactions"] == txs >= 1
    by_env = cli("ledger", "verify", "--public-key", pub, env={"LOGMARKET_STORE": dsn})
    assert by_env.returncode == 0 and by_env.stdout.startswith("ledger intact:"), by_env.stderr
    wrong = cli("ledger", "verify", "--store", dsn, "--public-key", pub.replace(
        str(fleet[0].state_dir), str(fleet[0].root)))  # fmt: skip
    assert wrong.returncode == 2 and "public key" in wrong.stderr


def settled_by(d: DaemonProcess) -> float:
    """How many payouts this daemon's settlement job settled (its own metric)."""
    return sum(v for k, v in d.metrics().items() if k.startswith("logmarket_payouts_settled"))


def test_settlement_runs_in_one_daemon_of_the_fleet(
    pg_server: PgServer,  # noqa: F811
    short_tmp: Path,
) -> None:
    """Two daemons with a one-second hold: the fleet's due payouts are settled by the daemon
    holding the fleet's settlement lock, each once; the other skips its rounds — even while
    the holder is frozen (SIGSTOP: its session, and so its lock, stay) — and takes over when
    the holder stops."""
    dsn = pg_server.create_database()
    args = ("--store", dsn, "--settle-after", "1s", "--auto-pay-threshold", "0",
            "--requests-per-minute", "100000")  # fmt: skip
    a = DaemonProcess(short_tmp / "a", *args, marketplace=True).start()
    (short_tmp / "b" / "state").mkdir(parents=True)
    shutil.copy(a.state_dir / "ledger.key", short_tmp / "b" / "state" / "ledger.key")
    b: DaemonProcess | None = None
    try:
        # The first daemon's first round takes the lock (said in its log).
        wait_for(lambda: "settlement" in a.log.read_text() and "fleet lock taken" in
                 a.log.read_text(), 20)  # fmt: skip
        b = DaemonProcess(short_tmp / "b", *args, marketplace=True).start()
        assert a.proc is not None
        a.proc.send_signal(signal.SIGSTOP)
        try:
            paid = [analyze(b, distinct_traceback(40 + i), f"settle{i}") for i in range(4)]
            assert all(p["paid"] for p in paid), [p["pricing"] for p in paid]
            wait_for(lambda: False, 4.0)  # four of b's rounds, the payouts due after one
            with psycopg.connect(dsn) as conn:
                states = conn.execute("SELECT state FROM payouts").fetchall()
            assert states == [("pending",)] * 4, "a daemon without the lock settled"
        finally:
            a.proc.send_signal(signal.SIGCONT)

        def pending() -> int:
            with psycopg.connect(dsn) as conn:
                row = conn.execute("SELECT COUNT(*) FROM payouts WHERE state <> 'settled'")
                return int((row.fetchone() or (0,))[0])

        assert wait_for(lambda: pending() == 0, 30)
        assert (settled_by(a), settled_by(b)) == (4, 0)
        a.stop()  # the lock goes with its session: b takes over at its next round
        late = analyze(b, distinct_traceback(45), "settle-late")
        assert late["paid"], late["pricing"]
        assert wait_for(lambda: pending() == 0, 30)
        assert settled_by(b) == 1
        with psycopg.connect(dsn) as conn:
            per_payout = conn.execute(
                "SELECT COUNT(*) FROM transactions WHERE settles IS NOT NULL GROUP BY settles"
            ).fetchall()
        assert per_payout == [(1,)] * 5
    finally:
        a.stop()
        if b is not None:
            b.stop()

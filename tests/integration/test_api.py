"""The marketplace API end to end: a real daemon, real HTTP, the real SQLite file, the real CLI."""

from __future__ import annotations

import concurrent.futures
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"
SAMPLE = {name: content for name, _, content in SAMPLES}
TRACEBACK = SAMPLE["runtime-traceback.log"]
PYTEST = SAMPLE["test-pytest-failure.log"]
ATTACKS = SAMPLE["runtime-nginx-attacks.log"]
HEARTBEAT = SAMPLE["runtime-heartbeat.log"]


@pytest.fixture(scope="module")
def market(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProcess]:
    """One daemon for the module (fresh state), with limits low enough to test."""
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="lma", dir="/tmp"))
    d = DaemonProcess(
        root, "--max-logs-per-hour", "6", "--requests-per-minute", "100000", marketplace=True
    ).start()
    try:
        yield d
    finally:
        d.stop()


def make_key(d: DaemonProcess, sub: str) -> str:
    out = subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "keys", "create", sub, "--state-dir", str(d.state_dir)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return out.stdout.strip()


def post(d: DaemonProcess, path: str, body: Any, token: str | None, **kw: Any) -> tuple[int, Any]:
    return http("POST", d.url + API + path, body, token=token, **kw)


def get(d: DaemonProcess, path: str, token: str | None) -> tuple[int, Any]:
    return http("GET", d.url + API + path, token=token)


def test_analyze_returns_the_seed_log_analysis_and_auto_pays(market: DaemonProcess) -> None:
    """A valuable log: LogAnalysis in camelCase, priced by the formula, auto-paid, recorded."""
    admin = market.admin_token
    status, a = post(market, "/analyze", {"source": "test", "logContent": PYTEST,
                                          "subPKPId": "alice"}, admin)  # fmt: skip
    assert status == 200, a
    for key in (
        "id",
        "source",
        "timestamp",
        "subPKPId",
        "aiInsights",
        "quality",
        "valueScore",
        "paymentAmount",
        "improvementPotential",
        "paid",
    ):
        assert key in a, key  # fmt: skip
    assert a["aiInsights"]["errorPatterns"], "the failing test is a finding"
    assert a["pricing"]["amount"] == a["paymentAmount"]
    if a["valueScore"] > 70 and a["paymentAmount"] > 0:
        assert a["paid"] is True
        status, sub = get(market, "/sub-pkp/alice", admin)
        assert status == 200
        assert sub["pending"] == pytest.approx(a["paymentAmount"])  # held 24 h by default
        assert sub["balance"] == 0
        assert [t["analysisId"] for t in sub["transactions"]] == [a["id"]]
        assert sub["xp"] > 0 and sub["level"] >= 1 and sub["achievements"]


def test_pay_is_idempotent_and_idempotency_key_reuse_is_409(market: DaemonProcess) -> None:
    """Same transaction id every time; a key reused with a different request is refused."""
    admin = market.admin_token
    _, a = post(market, "/analyze", {"source": "runtime", "logContent": TRACEBACK,
                                     "subPKPId": "bob"}, admin)  # fmt: skip
    if a["paymentAmount"] == 0:
        pytest.fail(f"the traceback sample should earn something: {a['pricing']}")
    s1, t1 = post(market, f"/pay/{a['id']}", None, admin, headers={"Idempotency-Key": "k-1"})
    s2, t2 = post(market, f"/pay/{a['id']}", None, admin, headers={"Idempotency-Key": "k-1"})
    s3, t3 = post(market, f"/pay/{a['id']}", None, admin)
    assert s1 == s2 == s3 == 200
    assert t1["id"] == t2["id"] == t3["id"] and t1["analysisId"] == a["id"]
    assert t1["type"] == "log-data" and t1["subPKPId"] == "bob"
    s4, err = post(market, f"/pay/{a['id']}", {"x": 1}, admin, headers={"Idempotency-Key": "k-1"})
    assert s4 == 409 and err["error"] == "idempotency-key-reused"


def test_resubmitted_log_earns_no_uniqueness_bonus(market: DaemonProcess) -> None:
    """The first reporter gets the uniqueness bonus; the same log again, from anyone, does not."""
    admin = market.admin_token
    log = ATTACKS.replace("198.51.100.23", "192.0.2.77")
    _, first = post(market, "/analyze", {"source": "runtime", "logContent": log,
                                         "subPKPId": "carol"}, admin)  # fmt: skip
    _, again = post(market, "/analyze", {"source": "runtime", "logContent": log,
                                         "subPKPId": "dave"}, admin)  # fmt: skip
    assert "uniqueness" in first["pricing"]["bonuses"]
    assert "uniqueness" not in again["pricing"]["bonuses"]
    assert again["quality"]["uniqueness"] < first["quality"]["uniqueness"]
    assert again["paymentAmount"] < first["paymentAmount"]


def test_auth_on_every_marketplace_endpoint(market: DaemonProcess) -> None:
    """No token: 401. A Sub-PKP key: its own data only; paying and the dashboard are admin's.
    /healthz and /metrics need no key."""
    key = make_key(market, "erin")
    endpoints = [("POST", "/analyze", {"source": "build", "logContent": "x"}),
                 ("POST", "/pay/la_x", None), ("GET", "/dashboard", None),
                 ("GET", "/sub-pkp/erin", None), ("POST", "/simulate", {"iterations": 1}),
                 ("POST", "/batch-analyze", {"logs": [{"source": "build", "content": "x"}]}),
                 ("GET", "/pricing", None), ("GET", "/agents", None),
                 ("GET", "/top-earners", None), ("GET", "/quality-trends", None)]  # fmt: skip
    for method, path, body in endpoints:
        status, err = http(method, market.url + API + path, body)
        assert status == 401 and err["error"] == "unauthorized", (path, status)
        status, _ = http(method, market.url + API + path, body, token="lmk_nope_nope")
        assert status == 401, path
    assert http("GET", market.url + "/events")[0] == 401
    assert post(market, "/pay/la_x", None, key)[0] == 403
    assert get(market, "/dashboard", key)[0] == 403
    assert get(market, "/sub-pkp/alice", key)[0] == 403
    assert get(market, "/sub-pkp/erin", key)[0] == 200
    status, err = post(market, "/analyze", {"source": "build", "logContent": "x",
                                            "subPKPId": "alice"}, key)  # fmt: skip
    assert status == 403 and err["error"] == "forbidden"
    status, a = post(market, "/analyze", {"source": "build", "logContent": "make: ok"}, key)
    assert status == 200 and a["subPKPId"] == "erin"  # a key acts for its own id
    for path in ("/pricing", "/agents", "/top-earners", "/quality-trends"):
        assert get(market, path, key)[0] == 200, path
    assert http("GET", market.url + "/healthz")[0] == 200
    assert http("GET", market.url + "/metrics")[0] == 200


def test_batch_cap_and_body_cap_are_413(market: DaemonProcess) -> None:
    admin = market.admin_token
    logs = [{"source": "build", "content": "x"}] * 101
    status, err = post(market, "/batch-analyze", {"subPKPId": "frank", "logs": logs}, admin)
    assert status == 413 and err["error"] == "batch-too-large"
    status, err = post(
        market, "/analyze", {"source": "build", "logContent": "a" * (11 << 20)}, admin
    )
    assert status == 413


def test_batch_analyze_answers_total_logs_and_total_paid(market: DaemonProcess) -> None:
    """The seed's batch script shape: totalLogs and totalPaid."""
    admin = market.admin_token
    logs = [{"source": "build", "content": SAMPLE["build-gcc-error.log"]},
            {"source": "deploy", "content": SAMPLE["deploy-healthcheck.log"]},
            {"source": "runtime", "content": HEARTBEAT}]  # fmt: skip
    status, r = post(market, "/batch-analyze", {"subPKPId": "gina", "logs": logs}, admin)
    assert status == 200, r
    assert r["totalLogs"] == 3 and len(r["analyses"]) == 3
    paid = sum(a["paymentAmount"] for a in r["analyses"] if a["paid"])
    assert r["totalPaid"] == pytest.approx(paid)
    heartbeat = r["analyses"][2]
    assert sum(len(v) for v in heartbeat["aiInsights"].values()) == 0
    assert heartbeat["quality"]["relevance"] < 50


def test_logs_per_hour_limit_is_429_with_retry_after(market: DaemonProcess) -> None:
    """MAX_LOGS_PER_HOUR (6 here) per Sub-PKP: the seventh log in an hour is refused."""
    admin = market.admin_token
    body = {"source": "runtime", "logContent": HEARTBEAT, "subPKPId": "hank"}
    for _ in range(6):
        assert post(market, "/analyze", body, admin)[0] == 200
    status, err = http("POST", market.url + API + "/analyze", body, token=admin)
    assert status == 429 and err["error"] == "rate-limited"
    req_headers = _raw_headers(market, "/analyze", body, admin)
    assert int(req_headers["Retry-After"]) > 3000


def test_a_batch_over_the_hourly_limit_is_refused_whole(market: DaemonProcess) -> None:
    """Seven logs in one batch with a limit of six: 429, and none of them is analysed."""
    admin = market.admin_token
    logs = [{"source": "runtime", "content": HEARTBEAT}] * 7
    status, err = post(market, "/batch-analyze", {"subPKPId": "quinn", "logs": logs}, admin)
    assert status == 429 and err["error"] == "rate-limited"
    _, sub = get(market, "/sub-pkp/quinn", admin)
    assert sub["analyses"] == []


def test_simulate_runs_samples_and_never_pays(market: DaemonProcess) -> None:
    admin = market.admin_token
    status, r = post(market, "/simulate", {"subPKPId": "ivan", "iterations": 6}, admin)
    assert status == 200 and r["simulated"] is True and len(r["analyses"]) == 6
    _, sub = get(market, "/sub-pkp/ivan", admin)
    assert sub["balance"] == 0 and sub["transactions"] == [] and sub["analyses"] == []


def test_read_endpoints_have_the_seed_shapes(market: DaemonProcess) -> None:
    admin = market.admin_token
    _, pricing = get(market, "/pricing", admin)
    assert pricing["base"] == 0.10 and pricing["bonuses"]["securityIssue"] == 10.0
    assert len(pricing["examples"]) >= 3
    _, agents = get(market, "/agents", admin)
    assert [a["id"] for a in agents["agents"]] == [
        "error-detective",
        "performance-analyzer",
        "security-guardian",
        "quality-inspector",
    ]
    assert agents["totalAgents"] == 4
    _, top = get(market, "/top-earners", admin)
    earned = [e["totalEarned"] for e in top["topEarners"]]
    assert earned == sorted(earned, reverse=True)
    _, trends = get(market, "/quality-trends", admin)
    assert {i["metric"] for i in trends["insights"]} == {"Quality", "Value"}
    assert trends["recommendations"]
    _, dash = get(market, "/dashboard", admin)
    assert dash["totals"]["analyses"] >= 1 and "recordsStored" in dash["ingest"]
    status, spec = http("GET", market.url + "/openapi.json")
    assert status == 200
    for path in (
        "analyze",
        "pay/{logAnalysisId}",
        "dashboard",
        "sub-pkp/{subPKPId}",
        "simulate",
        "batch-analyze",
        "pricing",
        "agents",
        "top-earners",
        "quality-trends",
    ):
        assert f"{API}/{path}" in spec["paths"], path  # fmt: skip


def test_sse_delivers_payment_events_live(market: DaemonProcess) -> None:
    """/events streams game.points.awarded and log.payment.executed as they happen."""
    admin = market.admin_token
    received: list[str] = []
    sock = socket.create_connection(("127.0.0.1", market.port), timeout=20)
    sock.sendall(f"GET /events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {admin}\r\n"
                 "Accept: text/event-stream\r\n\r\n".encode())  # fmt: skip
    try:
        head = sock.recv(4096).decode()
        assert " 200 " in head.splitlines()[0]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            _, a = pool.submit(post, market, "/analyze", {"source": "test", "logContent":
                PYTEST.replace("test_apply_discount_code", "test_winter_code"), "subPKPId": "judy"}, admin).result()  # fmt: skip
            assert a["paymentAmount"] > 0, a["pricing"]
            assert pool.submit(post, market, f"/pay/{a['id']}", None, admin).result()[0] == 200
        deadline = time.monotonic() + 20
        buf = head
        wanted = ("event: log.payment.executed", "event: game.points.awarded")
        # Both, not the first seen: the two events may arrive in separate reads.
        while time.monotonic() < deadline and not all(w in buf for w in wanted):
            buf += sock.recv(65536).decode()
        received = [ln.split(": ", 1)[1] for ln in buf.splitlines() if ln.startswith("event: ")]
    finally:
        sock.close()
    assert "log.payment.executed" in received and "game.points.awarded" in received


def test_requests_per_minute_per_key_is_429(short_tmp: Path) -> None:
    """Each key has its own budget of requests per minute; the admin's is separate."""
    d = DaemonProcess(short_tmp, "--requests-per-minute", "5", marketplace=True).start()
    try:
        key = make_key(d, "lena")
        statuses = [get(d, "/pricing", key)[0] for _ in range(7)]
        assert statuses[:5] == [200] * 5 and statuses[5:] == [429, 429]
        assert _raw_headers(d, "/pricing", None, key)["Retry-After"].isdigit()
        assert get(d, "/pricing", d.admin_token)[0] == 200  # another key, another budget
    finally:
        d.stop()


def _raw_headers(d: DaemonProcess, path: str, body: Any, token: str) -> dict[str, str]:
    """The response headers of a request (POST with a JSON body, or GET without one)."""
    import urllib.error
    import urllib.request

    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(d.url + API + path, data=data,
                                 headers={"Authorization": f"Bearer {token}",
                                          "Content-Type": "application/json"})  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return dict(exc.headers)


def test_metrics_cover_analysis_payments_and_events(market: DaemonProcess) -> None:
    """/metrics after real work: analysis latency histogram, payments, money, events."""
    admin = market.admin_token
    _, a = post(market, "/analyze", {"source": "build", "logContent":
                SAMPLE["build-gcc-error.log"].replace("eval.c", "exec.c"), "subPKPId": "olga"},
                admin)  # fmt: skip
    if not a["paid"] and a["paymentAmount"] > 0:
        post(market, f"/pay/{a['id']}", None, admin)
    m = market.metrics()
    assert m['logmarket_analysis_seconds_count{path="api"}'] >= 1
    assert m['logmarket_analyses_total{source="build"}'] >= 1
    assert m["logmarket_payments_total"] >= 1 and m["logmarket_paid_dollars_total"] > 0
    assert m["logmarket_events_published_total"] >= 2
    assert "logmarket_inbox_depth" in m and "logmarket_connections" in m


def test_agents_count_every_log_they_ran_on(market: DaemonProcess) -> None:
    """An agent that ran and found nothing still counts the log as analysed."""
    admin = market.admin_token
    _, before = get(market, "/agents", admin)
    post(market, "/analyze", {"source": "build", "logContent": "make: Nothing to be done.",
                              "subPKPId": "pete"}, admin)  # fmt: skip
    _, after = get(market, "/agents", admin)
    logs = {a["id"]: a["logsAnalyzed"] for a in after["agents"]}
    was = {a["id"]: a["logsAnalyzed"] for a in before["agents"]}
    # every agent reads every log, whatever its source
    assert {k: logs[k] - was[k] for k in logs} == {
        "error-detective": 1, "performance-analyzer": 1, "security-guardian": 1,
        "quality-inspector": 1}  # fmt: skip


def test_the_leaderboard_shows_other_sub_pkps_only_by_pseudonym(market: DaemonProcess) -> None:
    """Sub-PKP identities are protected: a key sees its own id and stable pseudonyms for the
    others (never their ids); the admin sees every id."""
    key = make_key(market, "zoe")
    _, admin_view = get(market, "/top-earners?limit=100", market.admin_token)
    _, key_view = get(market, "/top-earners?limit=100", key)
    _, again = get(market, "/top-earners?limit=100", key)
    ids = {e["subPKPId"] for e in admin_view["topEarners"]}
    shown = [e["subPKPId"] for e in key_view["topEarners"]]
    assert len(ids) > 1 and len(shown) == len(ids)
    assert not (set(shown) - {"zoe"}) & ids, shown
    assert shown == [e["subPKPId"] for e in again["topEarners"]]  # stable
    assert [e["totalEarned"] for e in key_view["topEarners"]] == [
        e["totalEarned"] for e in admin_view["topEarners"]
    ]

"""Limits where money moves hold under concurrency: one result per Idempotency-Key, the hourly
limit reserved in the transaction that records, and a disabled marketplace that pays nothing.
A real daemon, real HTTP, the real SQLite file."""

from __future__ import annotations

import concurrent.futures
import contextlib
import sqlite3
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"
SAMPLE = {name: content for name, _, content in SAMPLES}


def analyses(d: DaemonProcess, sub: str) -> int:
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        return int(conn.execute(
            "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = ?", (sub,)
        ).fetchone()[0])  # fmt: skip


def post(d: DaemonProcess, path: str, body: Any, **headers: str) -> tuple[int, Any]:
    return http("POST", d.url + API + path, body, token=d.admin_token, headers=headers)


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    root = Path(tempfile.mkdtemp(prefix="lml", dir="/tmp"))
    d = DaemonProcess(
        root, "--max-logs-per-hour", "40", "--requests-per-minute", "100000", marketplace=True
    ).start()
    try:
        yield d
    finally:
        d.stop()


def unique_log(i: int) -> str:
    return SAMPLE["runtime-traceback.log"].replace("customer_id", f"customer_{i}_id")


def test_concurrent_analyze_with_one_idempotency_key_makes_one_result(
    market: DaemonProcess,
) -> None:
    body = {"source": "runtime", "logContent": unique_log(1), "subPKPId": "ida"}
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: post(market, "/analyze", body,
                                               **{"Idempotency-Key": "an-1"}), range(8)))  # fmt: skip
    assert {status for status, _ in answers} == {200}
    assert len({a["id"] for _, a in answers}) == 1
    assert analyses(market, "ida") == 1
    status, err = post(market, "/analyze", {**body, "logContent": "other"},
                       **{"Idempotency-Key": "an-1"})  # fmt: skip
    assert status == 409 and err["error"] == "idempotency-key-reused"


def test_a_retried_batch_with_its_key_is_answered_once(market: DaemonProcess) -> None:
    logs = [{"source": "runtime", "content": unique_log(100 + i)} for i in range(3)]
    body = {"subPKPId": "jo", "logs": logs}
    first = post(market, "/batch-analyze", body, **{"Idempotency-Key": "b-1"})
    again = post(market, "/batch-analyze", body, **{"Idempotency-Key": "b-1"})
    assert first[0] == again[0] == 200
    assert [a["id"] for a in first[1]["analyses"]] == [a["id"] for a in again[1]["analyses"]]
    assert analyses(market, "jo") == 3


def test_concurrent_batches_never_pass_the_hourly_limit(market: DaemonProcess) -> None:
    """Eight batches of ten at once against a limit of 40: at most 40 recorded, each batch
    whole or not at all."""

    def batch(b: int) -> tuple[int, Any]:
        logs = [{"source": "runtime", "content": unique_log(1000 + 10 * b + i)} for i in range(10)]
        return post(market, "/batch-analyze", {"subPKPId": "kim", "logs": logs})

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(batch, range(8)))
    statuses = sorted(status for status, _ in answers)
    assert set(statuses) <= {200, 429}
    assert analyses(market, "kim") == 10 * statuses.count(200) <= 40


def test_a_disabled_marketplace_analyses_and_pays_nothing_over_http(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp).start()  # LOG_MARKETPLACE_ENABLED off: ingest and store only
    try:
        log = {"source": "runtime", "logContent": unique_log(7), "subPKPId": "lee"}
        for path, body in (("/analyze", log), ("/simulate", {"iterations": 1}),
                           ("/batch-analyze", {"logs": [{"source": "build", "content": "x"}]}),
                           ("/pay/la_x", None), ("/payouts/tx_x/settle", {})):  # fmt: skip
            status, err = post(d, path, body)
            assert status == 403 and err["error"] == "marketplace-disabled", (path, status, err)
        assert analyses(d, "lee") == 0
    finally:
        d.stop()


def test_an_idempotency_key_belongs_to_whoever_sent_it(market: DaemonProcess) -> None:
    """Two Sub-PKPs choosing the same Idempotency-Key get their own answers: one caller can
    neither replay another's result nor block its requests with a 409."""
    answers = []
    for i, sub in enumerate(("nia", "omar")):
        key = market.make_key(sub)
        body = {"source": "runtime", "logContent": unique_log(200 + i)}
        status, a = http("POST", market.url + API + "/analyze", body, token=key,
                         headers={"Idempotency-Key": "shared-1"})  # fmt: skip
        assert status == 200, a
        answers.append(a)
    assert [a["subPKPId"] for a in answers] == ["nia", "omar"]
    assert analyses(market, "nia") == analyses(market, "omar") == 1

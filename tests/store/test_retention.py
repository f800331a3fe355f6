"""Retention: past ``retention_days`` the log text leaves the store, the money and novelty stay.

The real parts (store, inbox writer, pipeline, analyser, marketplace, flow) on a real SQLite
file make a window's analysis, an API analysis kept under an Idempotency-Key and its payment;
the job's clock is then moved past the retention instead of waiting.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from logmarketd.analysis.analyser import Analyser
from logmarketd.flow import Flow
from logmarketd.ingest.inbox import InboxWriter, Submission
from logmarketd.ingest.redact import Redactor
from logmarketd.market.events import prune_events
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import Ledger
from logmarketd.market.marketplace import Idempotency, Marketplace
from logmarketd.metrics import Metrics
from logmarketd.samples import SAMPLES
from logmarketd.settings import Settings
from logmarketd.store.db import Store
from logmarketd.store.retention import Retention
from logmarketd.transform.windows import Pipeline

DAY = 86400.0
TRACEBACK = {name: content for name, _, content in SAMPLES}["runtime-traceback.log"]
EVIDENCE_ONLY = "fetchrow(INSERT_ORDER"  # in an evidence line of TRACEBACK, in no finding
WINDOW = (
    '{"type":"batch","seq":0,"records":['
    '{"message":"Traceback (most recent call last):"},'
    '{"message":"  File \\"app.py\\", line 3, in <module>"},'
    '{"message":"login failed for 203.0.113.7"},'
    '{"message":"login failed for 203.0.113.8"},'
    '{"message":"KeyError: \'customer_id\'","eof":true}]}'
)


@dataclass
class Parts:
    store: Store
    metrics: Metrics
    pipeline: Pipeline

    def job(self, now: float, **kw: Any) -> Retention:
        """The job as the daemon wires it, its clock at ``now``."""
        also = {"events": _events, "inbox": self.pipeline.prune_consumed}
        return Retention(self.store, days=30, also=also, clock=lambda: now, **kw)


async def _events(conn: aiosqlite.Connection, before: float) -> int:
    return await prune_events(conn, before, keep_undelivered=False)


async def _window(store: Store, inbox: InboxWriter, flow: Flow, metrics: Metrics) -> Pipeline:
    pipeline = Pipeline(store, inbox, flow.window, metrics=metrics, poll=0.01)
    await (await inbox.submit(Submission(frame=WINDOW.encode(), n_records=5, source="runtime",
                                         client_id="c", seq=0, sub_pkp_id="pia")))  # fmt: skip
    run = asyncio.create_task(pipeline.run())
    for _ in range(1000):
        if pipeline.analysed:
            break
        await asyncio.sleep(0.01)
    pipeline.stop()
    await run
    assert pipeline.analysed == 1
    return pipeline


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    """A store holding one window's analysis and one paid API analysis (with its key)."""
    settings = Settings(state_dir=tmp_path)
    store = await Store.open(tmp_path / "s.db")
    metrics = Metrics()
    inbox = InboxWriter(store, metrics)
    await inbox.start()
    writer = asyncio.create_task(inbox.run())
    market = Marketplace(
        store, Ledger(store, GameRules(100, True)), settings, lambda events: None, metrics=metrics
    )
    flow = Flow(store, Analyser(store, settings, Redactor(b"k" * 32)), market, metrics)
    try:
        pipeline = await _window(store, inbox, flow, metrics)
        done = await flow.submit(
            [(TRACEBACK, "runtime")], "pia", idempotency=Idempotency("key-1", "h" * 64)
        )
        api_id = done.analyses[0]["id"]
        assert done.analyses[0]["paymentAmount"] > 0
        await market.pay(api_id)
        yield Parts(store, metrics, pipeline)
    finally:
        await inbox.stop()
        await writer
        await store.close()


async def rows(store: Store, sql: str) -> list[tuple[Any, ...]]:
    return await store.fetchall(sql)


def evidence(body: str) -> list[Any]:
    insights = json.loads(body)["aiInsights"]
    return [e for kind in insights.values() for f in kind for e in f["evidence"]]


def findings(body: str) -> list[dict[str, Any]]:
    insights = json.loads(body)["aiInsights"]
    return [{k: v for k, v in f.items() if k != "evidence"} for kind in insights.values()
            for f in kind]  # fmt: skip


MONEY = (
    "SELECT id, value_score, quality, payment_micros, paid, paid_at, content_sha256"
    " FROM analyses ORDER BY id"
)
KEPT = [
    MONEY,
    "SELECT * FROM transactions ORDER BY id",
    "SELECT * FROM ledger_entries ORDER BY id",
    "SELECT * FROM ledger_chain ORDER BY seq",
    "SELECT * FROM findings_seen ORDER BY fingerprint",
    "SELECT * FROM balances ORDER BY account",
    "SELECT * FROM templates ORDER BY template_id",
]


async def test_past_the_retention_the_text_goes_and_money_and_novelty_stay(parts: Parts) -> None:
    store = parts.store
    bodies = dict(await rows(store, "SELECT id, body FROM analyses"))
    assert len(bodies) == 2 and any(evidence(b) for b in bodies.values())
    assert any(EVIDENCE_ONLY in b for b in bodies.values())
    assert (await rows(store, "SELECT COUNT(*) FROM windows"))[0][0] == 1
    assert (await rows(store, "SELECT COUNT(*) FROM idempotency_keys"))[0][0] == 1
    assert (await rows(store, "SELECT COUNT(*) FROM events"))[0][0] >= 1
    # The window's row, read to its end only after the window closed, waits in the inbox.
    assert (await rows(store, "SELECT COUNT(*) FROM inbox"))[0][0] == 1
    kept = [await rows(store, sql) for sql in KEPT]
    assert kept[1] and kept[2] and kept[4]  # a payment, its entries, the claimed findings

    later = time.time() + 31 * DAY
    job = parts.job(later, metrics=parts.metrics, batch=1)
    pruned = await job.prune()

    assert pruned["analyses"] == 2 and pruned["windows"] == 1
    assert pruned["idempotency_keys"] == 1 and pruned["events"] >= 1 and pruned["inbox"] == 1
    after = dict(await rows(store, "SELECT id, body FROM analyses"))
    assert after.keys() == bodies.keys()
    for analysis_id, body in after.items():
        assert evidence(body) == [] and EVIDENCE_ONLY not in body
        assert findings(body) == findings(bodies[analysis_id])  # fingerprints, counts kept
        before = json.loads(bodies[analysis_id])
        now = json.loads(body)
        for field in ("valueScore", "paymentAmount", "quality", "improvementPotential"):
            assert now[field] == before[field]
    for table in ("windows", "idempotency_keys", "events", "inbox"):
        assert (await rows(store, f"SELECT COUNT(*) FROM {table}"))[0][0] == 0
    assert [await rows(store, sql) for sql in KEPT] == kept
    assert parts.metrics.retention_pruned.labels("analyses")._value.get() == 2

    assert set((await job.prune()).values()) == {0}


async def test_nothing_younger_than_the_retention_is_touched(parts: Parts) -> None:
    store = parts.store
    tables = ("analyses", "windows", "idempotency_keys", "events", "inbox")
    everything = [await rows(store, f"SELECT * FROM {t} ORDER BY 1") for t in tables]
    pruned = await parts.job(time.time() + 29 * DAY).prune()
    assert pruned == dict.fromkeys(tables, 0)
    assert [await rows(store, f"SELECT * FROM {t} ORDER BY 1") for t in tables] == everything


async def test_the_stored_pages_no_longer_hold_the_text(parts: Parts) -> None:
    """Not only the rows: the file and its write-ahead log are rewritten (secure delete and a
    checkpoint), so the text cannot be read back from free pages or old frames."""
    await parts.job(time.time() + 31 * DAY).prune()
    raw = b"".join(
        p.read_bytes() for p in parts.store.path.parent.iterdir() if p.name.startswith("s.db")
    )
    assert EVIDENCE_ONLY.encode() not in raw
    assert b"203.0.113" not in raw


async def test_a_retention_below_one_day_is_refused(parts: Parts) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Retention(parts.store, days=0)


async def test_inbox_records_not_yet_in_a_closed_window_are_kept(parts: Parts) -> None:
    """However old, a row the windows have not consumed stays: it is still to be analysed."""
    frame = '{"type":"batch","seq":1,"records":[{"message":"still open"}]}'
    await (await parts.pipeline.inbox.submit(Submission(
        frame=frame.encode(), n_records=1, source="runtime", client_id="c", seq=1,
        sub_pkp_id="pia")))  # fmt: skip
    waiting = await rows(parts.store, "SELECT id, frame FROM inbox ORDER BY id DESC LIMIT 1")
    pruned = await parts.job(time.time() + 365 * DAY).prune()
    assert pruned["inbox"] == 1  # the consumed row before it
    assert await rows(parts.store, "SELECT id, frame FROM inbox") == waiting

"""A window's way with a shared store: the real inbox, pipeline, analyser, marketplace and
flow on this daemon's SQLite file and a real PostgreSQL. The analysis commits to the shared
store first, then the window's rows locally; a window offered again after the local commit
failed (as after a crash between the two) is recorded and paid once."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

from logmarketd.analysis.analyser import Analyser
from logmarketd.flow import Flow
from logmarketd.ingest.inbox import InboxWriter, Submission
from logmarketd.ingest.redact import Redactor
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import Ledger
from logmarketd.market.marketplace import Marketplace
from logmarketd.metrics import Metrics
from logmarketd.settings import Settings
from logmarketd.store.db import Store
from logmarketd.store.pg import PgStore
from logmarketd.transform.windows import ClosedWindow, Pipeline

from tests.store.pgserver import PgServer, pg_server  # noqa: F401

LOG = (
    '{"type":"batch","seq":0,"records":['
    '{"message":"Traceback (most recent call last):"},'
    '{"message":"  File \\"app.py\\", line 3, in <module>"},'
    '{"message":"KeyError: \'customer_id\'","eof":true}]}'
)


async def test_a_window_offered_again_after_the_local_commit_failed_is_recorded_once(
    tmp_path: Path,
    pg_server: PgServer,  # noqa: F811
) -> None:
    settings = Settings(state_dir=tmp_path, auto_pay_threshold=0)
    store = await Store.open(tmp_path / "s.db")
    shared = await PgStore.open(pg_server.create_database())
    metrics = Metrics()
    inbox = InboxWriter(store, metrics)
    await inbox.start()
    writer = asyncio.create_task(inbox.run())
    market = Marketplace(shared, Ledger(shared, GameRules(100, True)), settings,
                         lambda events: None, metrics=metrics)  # fmt: skip
    flow = Flow(store, Analyser(shared, settings, Redactor(b"k" * 32)), market, metrics,
                instance="host-a")  # fmt: skip
    offered: list[ClosedWindow] = []

    async def sink(window: ClosedWindow) -> None:
        offered.append(window)
        if len(offered) == 1:  # the local commit fails after the shared one
            window = dataclasses.replace(
                window, writes=(*window.writes, ("INSERT INTO no_such_table VALUES (?)", [(1,)]))
            )
        await flow.window(window)

    pipeline = Pipeline(store, inbox, sink, metrics=metrics, poll=0.01)
    try:
        await (await inbox.submit(Submission(frame=LOG.encode(), n_records=3, source="runtime",
                                             client_id="c", seq=0, sub_pkp_id="pia")))  # fmt: skip
        run = asyncio.create_task(pipeline.run())
        for _ in range(3000):
            if pipeline.analysed:
                break
            await asyncio.sleep(0.01)
        pipeline.stop()
        await run
        assert len(offered) == 2 and offered[0].log_id != offered[1].log_id
        analyses = await shared.fetchall("SELECT id, paid FROM analyses")
        assert analyses == [(offered[0].log_id, 1)]  # recorded once, under the first id; paid
        assert await shared.fetchone(
            "SELECT COUNT(*) FROM transactions WHERE settles IS NULL AND reverses IS NULL"
        ) == (1,)
        windows = await store.fetchall("SELECT analysis_id FROM windows")
        assert windows == [(offered[0].log_id,)]  # the local row names the shared analysis
        assert await store.inbox_depth() == 0
    finally:
        await inbox.stop()
        await writer
        await shared.close()
        await store.close()

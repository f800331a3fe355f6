"""After a window closes, the log goes through each later stage once, in order.

The real parts (store, inbox writer, pipeline, analyser, marketplace, flow) on a real SQLite
file; a profiler records which stage package each function of the daemon belongs to, in the
order they are entered, in every thread (the agents run in one of their own).
"""

from __future__ import annotations

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import Any

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
from logmarketd.transform.windows import ClosedWindow, Pipeline

from tests.test_layout import STAGES

DAEMON = str(Path(__file__).resolve().parents[2] / "daemon" / "logmarketd")
FLOW = str(Path(DAEMON) / "flow.py")
LOG = (
    '{"type":"batch","seq":0,"records":['
    '{"message":"Traceback (most recent call last):"},'
    '{"message":"  File \\"app.py\\", line 3, in <module>"},'
    '{"message":"KeyError: \'customer_id\'","eof":true}]}'
)


def stage_of(frame: FrameType) -> str | None:
    """The stage package of the function running in ``frame``; None outside the stages."""
    path = frame.f_code.co_filename
    if not path.startswith(DAEMON):
        return None
    parts = Path(path[len(DAEMON) + 1 :]).parts
    return parts[0] if len(parts) > 1 and parts[0] in STAGES else "wiring"


def in_flow(frame: FrameType | None) -> bool:
    """Whether ``frame`` runs for the flow: it is on the stack under ``Flow.window``."""
    while frame is not None:
        if frame.f_code.co_filename == FLOW:
            return True
        frame = frame.f_back
    return False


class StageTrace:
    """Every call from one stage's code into another's: (caller stage, callee stage)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def __call__(self, frame: FrameType, event: str, arg: Any) -> None:
        if event != "call":
            return
        if threading.current_thread() is threading.main_thread() and not in_flow(frame):
            return  # another task of the event loop (the inbox writer, the pipeline's loop)
        callee = stage_of(frame)
        caller = stage_of(frame.f_back) if frame.f_back is not None else None
        if callee is None or callee == "wiring" or callee == caller:
            return
        with self.lock:
            self.calls.append((caller or "other", callee))


async def test_a_closed_window_passes_each_stage_once_in_order(tmp_path: Path) -> None:
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
    trace = StageTrace()
    closed: list[ClosedWindow] = []

    async def sink(window: ClosedWindow) -> None:
        closed.append(window)
        sys.setprofile(trace)
        threading.setprofile(trace)  # type: ignore[arg-type]
        # a new pool, so the agents' worker thread starts after the profiler is set
        asyncio.get_running_loop().set_default_executor(ThreadPoolExecutor(1))
        try:
            await flow.window(window)
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]

    pipeline = Pipeline(store, inbox, sink, metrics=metrics, poll=0.01)
    try:
        await (await inbox.submit(Submission(frame=LOG.encode(), n_records=3, source="runtime",
                                             client_id="c", seq=0, sub_pkp_id="pia")))  # fmt: skip
        run = asyncio.create_task(pipeline.run())
        for _ in range(500):
            if pipeline.analysed:
                break
            await asyncio.sleep(0.01)
        pipeline.stop()
        await run
        assert pipeline.analysed == 1 and len(closed) == 1
        row = await store.fetchone(
            "SELECT COUNT(*) FROM analyses WHERE id = ?", (closed[0].log_id,)
        )
        assert row == (1,)
        row = await store.fetchone("SELECT n_records FROM windows WHERE analysis_id = ?",
                                   (closed[0].log_id,))  # fmt: skip
        assert row == (3,)  # the window's own row, written in the same transaction
    finally:
        await inbox.stop()
        await writer
        await store.close()

    # Each stage the flow enters, in the order it enters them, store writes aside: analysis,
    # then the market; never back to the window pipeline (transform) or the ingest.
    entered = [b for a, b in trace.calls if a in ("wiring", "other") and b != "store"]
    path = [s for i, s in enumerate(entered) if i == 0 or entered[i - 1] != s]
    assert path == ["analysis", "market"], path
    # No stage calls a later one: a later stage may use an earlier one, never the reverse.
    forward = [(a, b) for a, b in trace.calls
               if a in STAGES and STAGES.index(b) > STAGES.index(a)]  # fmt: skip
    assert not forward

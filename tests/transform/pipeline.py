"""Running the real pipeline in-process: a real store and inbox, records in, windows out."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from logmarketd.ingest.inbox import InboxWriter, Submission
from logmarketd.metrics import Metrics
from logmarketd.store.db import Store, apply_writes
from logmarketd.transform.windows import ClosedWindow, Pipeline

__all__ = ["run_windows"]


async def run_windows(
    db: Path, records: list[dict[str, Any]], *, batch: int = 500, **pipeline: Any
) -> list[ClosedWindow]:
    """Submit ``records`` (in batches) as one connection would, run the pipeline until every
    record is in a closed window, and return the windows in the order they closed."""
    store = await Store.open(db)
    inbox = InboxWriter(store, Metrics())
    await inbox.start()
    writer = asyncio.create_task(inbox.run())
    closed: list[ClosedWindow] = []

    async def sink(window: ClosedWindow) -> None:
        async with store.transaction() as tx:
            await apply_writes(tx, window.writes)
        closed.append(window)

    try:
        for seq, start in enumerate(range(0, len(records), batch)):
            chunk = records[start : start + batch]
            frame = json.dumps({"type": "batch", "seq": seq, "records": chunk})
            await (await inbox.submit(Submission(frame=frame.encode(), n_records=len(chunk),
                                                 source="runtime", client_id="c", seq=seq,
                                                 sub_pkp_id="pia")))  # fmt: skip
        p = Pipeline(store, inbox, sink, poll=0.01, **pipeline)
        run = asyncio.create_task(p.run())
        for _ in range(3000):
            if sum(len(w.line_templates) for w in closed) >= len(records):
                break
            await asyncio.sleep(0.01)
        p.stop()
        await run
        return closed
    finally:
        await inbox.stop()
        await writer
        await store.close()

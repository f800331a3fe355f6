"""A log's way through the later stages, in order: analyse → price and settle → publish.

Two ways in: a window the pipeline closed (:meth:`Flow.window`) and logs submitted over the
API (:meth:`Flow.submit`). Both run the analysis once, then in one transaction this module
owns reserve the hourly limit, price, record and (maybe) pay — for a window, the rows that
record it as consumed are written in that transaction too, so a crash loses neither and repeats
neither; for a request with an ``Idempotency-Key``, its answer is kept there — and publish
after the commit.

With a shared store (a fleet on PostgreSQL) the window's rows and the analysis are in two
databases: the analysis commits first, under an idempotency key that names the window (this
daemon's instance id and the window's first inbox position), then the window's rows. A crash
between the two offers the window again; its key answers the analysis already recorded (and
paid), and only the window's rows are written.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from logmarketd.analysis.analyser import Analysed, Analyser
from logmarketd.market.marketplace import Idempotency, Marketplace, SubmitResult
from logmarketd.metrics import Metrics
from logmarketd.models import Source
from logmarketd.store.db import Store, apply_writes
from logmarketd.transform.windows import ClosedWindow

__all__ = ["Flow", "Submitted"]


@dataclass(frozen=True, slots=True)
class Submitted:
    """The answer to submitted logs: each log's analysis as JSON, in order."""

    analyses: list[dict[str, Any]]
    replayed: bool  # the answer kept with the Idempotency-Key; nothing was done again


class Flow:
    def __init__(
        self,
        store: Store,
        analyser: Analyser,
        market: Marketplace,
        metrics: Metrics | None,
        *,
        instance: str = "local",
    ) -> None:
        self.store = store  # the inbox's and windows' (the market's is ``market.store``)
        self.analyser = analyser
        self.market = market
        self.metrics = metrics
        self.instance = instance  # names this daemon's windows in a shared store

    async def window(self, window: ClosedWindow) -> None:
        """Settle a closed window. Over MAX_LOGS_PER_HOUR it is analysed and recorded but not
        paid: a window is never refused, its records are already accepted."""
        started = time.perf_counter()
        analysed = await self.analyser.analyse(
            window.content, window.source, window.sub_pkp_id, log_id=window.log_id
        )
        if self.market.store is not self.store:
            result = await self._window_shared(window, analysed)
        else:
            async with self.store.transaction() as tx:
                await apply_writes(tx, window.writes)
                paid = await self.market.reserve(tx, window.sub_pkp_id, 1, refuse=False)
                result = await self.market.settle(tx, analysed, window.content, auto_pay=paid)
        if result is not None:
            self.market.published(result)
        self._measured("window", [window.source], started)

    async def _window_shared(self, window: ClosedWindow, analysed: Analysed) -> SubmitResult | None:
        """Settle a window in the shared store, then record it consumed in the local one
        (see the module's text); None when the shared store had it already."""
        (row,) = next(rows for sql, rows in window.writes if sql.startswith("INSERT INTO windows"))
        name = f"window:{self.instance}:{row[1]}:{row[2]}:{row[3]}"
        key = Idempotency(name, hashlib.sha256(name.encode()).hexdigest())
        result = None
        async with self.market.store.transaction() as tx:
            kept = await self.market.replay(tx, key)
            if kept is None:
                paid = await self.market.reserve(tx, window.sub_pkp_id, 1, refuse=False)
                result = await self.market.settle(tx, analysed, window.content, auto_pay=paid)
                await self.market.remember(tx, key, json.dumps(result.analysis.id))
        writes = window.writes
        if kept is not None:  # the analysis recorded the first time names the window
            first_id = json.loads(kept)
            writes = tuple((sql, [tuple(first_id if v == window.log_id else v for v in r)
                                  for r in rows]) for sql, rows in writes)  # fmt: skip
        async with self.store.transaction() as tx:
            await apply_writes(tx, writes)
        return result

    async def submit(
        self,
        logs: Sequence[tuple[str, Source]],
        sub_pkp_id: str | None,
        *,
        simulated: bool = False,
        idempotency: Idempotency | None = None,
    ) -> Submitted:
        """Settle logs (content, source) the API took, all or none: the hourly limit is
        reserved for all of them (``RateLimitedError`` when they do not fit) and, with an
        ``Idempotency-Key``, the first answer is replayed (``KeyReusedError`` for another
        request under the same key)."""
        self.market.require_enabled()
        if idempotency is not None and (kept := await self.market.replayed(idempotency)):
            return Submitted(json.loads(kept), replayed=True)
        started = time.perf_counter()
        analysed = await asyncio.gather(
            *(self.analyser.analyse(content, source, sub_pkp_id) for content, source in logs)
        )
        async with self.market.store.transaction() as tx:
            if idempotency is not None and (kept := await self.market.replay(tx, idempotency)):
                return Submitted(json.loads(kept), replayed=True)
            if not simulated:
                await self.market.reserve(tx, sub_pkp_id, len(logs), refuse=True)
            results = await self._settle_all(tx, analysed, logs, simulated)
            answer = [r.to_json() for r in results]
            if idempotency is not None:
                await self.market.remember(tx, idempotency, json.dumps(answer))
        for result in results:
            self.market.published(result)
        self._measured("api", [source for _, source in logs], started)
        return Submitted(answer, replayed=False)

    async def _settle_all(
        self,
        tx: Any,
        analysed: Sequence[Analysed],
        logs: Sequence[tuple[str, Source]],
        simulated: bool,
    ) -> list[SubmitResult]:
        return [
            await self.market.settle(tx, a, content, simulated=simulated)
            for a, (content, _) in zip(analysed, logs, strict=True)
        ]

    def _measured(self, path: str, sources: list[Source], started: float) -> None:
        if self.metrics is None:
            return
        for source in sources:
            self.metrics.analyses.labels(source).inc()
        seconds = (time.perf_counter() - started) / max(1, len(sources))
        for _ in sources:
            self.metrics.analysis_seconds.labels(path).observe(seconds)

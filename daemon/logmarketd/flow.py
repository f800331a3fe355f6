"""A log's way through the later stages, in order: analyse → price and settle → publish.

Two ways in: a window the pipeline closed (:meth:`Flow.window`) and a log submitted over the
API (:meth:`Flow.submit`). Both run the analysis once, then price, record and (maybe) pay in
one transaction this module owns — for a window, the rows that record it as consumed are
written in that transaction too, so a crash loses neither and repeats neither — and publish
after the commit.
The rate limit is decided once per log, here for a window, by the API for a request.
"""

from __future__ import annotations

import time

from logmarketd.analysis.analyser import Analyser
from logmarketd.market.marketplace import Marketplace, SubmitResult
from logmarketd.metrics import Metrics
from logmarketd.models import Source
from logmarketd.store.db import Store, apply_writes
from logmarketd.transform.windows import ClosedWindow

__all__ = ["Flow"]


class Flow:
    def __init__(
        self, store: Store, analyser: Analyser, market: Marketplace, metrics: Metrics | None
    ) -> None:
        self.store = store
        self.analyser = analyser
        self.market = market
        self.metrics = metrics

    async def window(self, window: ClosedWindow) -> None:
        """Settle a closed window. Over MAX_LOGS_PER_HOUR it is analysed and recorded but not
        paid: a window is never refused, its records are already accepted."""
        await self._settle(window.content, window.source, window.sub_pkp_id, window=window)

    async def submit(
        self, content: str, source: Source, sub_pkp_id: str | None, *, simulated: bool = False
    ) -> SubmitResult:
        """Settle one log the API took (its caller has checked the rate)."""
        return await self._settle(content, source, sub_pkp_id, simulated=simulated)

    async def _settle(
        self,
        content: str,
        source: Source,
        sub_pkp_id: str | None,
        *,
        simulated: bool = False,
        auto_pay: bool = True,
        window: ClosedWindow | None = None,
    ) -> SubmitResult:
        started = time.perf_counter()
        log_id = window.log_id if window is not None else None
        analysed = await self.analyser.analyse(content, source, sub_pkp_id, log_id=log_id)
        if window is not None:  # the one rate decision for a window: paid, or only recorded
            auto_pay = await self.market.within_rate(sub_pkp_id)
        async with self.store.transaction() as tx:
            if window is not None:
                await apply_writes(tx, window.writes)
            result = await self.market.settle(
                tx, analysed, content, simulated=simulated, auto_pay=auto_pay
            )
        self.market.published(result)
        if self.metrics is not None:
            self.metrics.analyses.labels(source).inc()
            path = "window" if window is not None else "api"
            self.metrics.analysis_seconds.labels(path).observe(time.perf_counter() - started)
        return result

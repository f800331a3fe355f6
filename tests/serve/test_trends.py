"""quality-trends on a real store: the period's estimatedROI is the sum of the analyses' own,
per day and in all; simulated analyses count for nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from logmarketd.market.game import GameRules
from logmarketd.market.ledger import Ledger
from logmarketd.models import (
    AIInsights,
    ImprovementPotential,
    LogAnalysis,
    PotentialMetric,
    Quality,
)
from logmarketd.serve import views
from logmarketd.serve.schemas import QualityTrends
from logmarketd.store.db import Store

PM = PotentialMetric(current=0, potential=0, improvement="x")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "trends.db", sync="normal")
    try:
        yield s
    finally:
        await s.close()


def _analysis(aid: str, roi: float) -> LogAnalysis:
    q = Quality(completeness=80, relevance=80, actionability=80, uniqueness=80, overall=80)
    return LogAnalysis(
        id=aid, source="test", timestamp=datetime.now(UTC), subPKPId="sp", ai_insights=AIInsights(),
        quality=q, value_score=60, payment_amount=Decimal("1"),
        improvement_potential=ImprovementPotential(development_speed=PM, code_quality=PM,
                                                   error_reduction=PM, estimatedROI=roi),
    )  # fmt: skip


async def test_trends_sum_the_analyses_roi(store: Store) -> None:
    """Two analyses of $75 and $1.04: the period's ROI is $76.04; a simulated one is left out."""
    ledger = Ledger(store, GameRules())
    for aid, roi, simulated in (("a", 75.0, False), ("b", 1.04, False), ("c", 500.0, True)):
        async with store.transaction() as tx:
            await ledger.record(tx, _analysis(aid, roi), new_fingerprints={f"fp-{aid}"},
                                simulated=simulated, content_sha256=None)  # fmt: skip
    trends = await views.quality_trends(store)
    QualityTrends.model_validate(trends)  # the documented response shape, no unknown field
    assert trends["currentTrends"]["estimatedROI"] == 76.04
    assert trends["currentTrends"]["analyses"] == 2
    assert sum(d["estimatedROI"] for d in trends["daily"]) == pytest.approx(76.04)


async def test_no_analyses_no_roi(store: Store) -> None:
    trends = await views.quality_trends(store)
    QualityTrends.model_validate(trends)
    assert trends["currentTrends"]["estimatedROI"] == 0

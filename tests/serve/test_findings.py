"""Findings as the dashboard shows them, on a real store: a template's title with a real
example value, locations only when real, near-identical findings grouped (with filters), and
the recent events."""

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
    ErrorPattern,
    Evidence,
    ImprovementPotential,
    LogAnalysis,
    PerformanceIssue,
    PotentialMetric,
    Quality,
)
from logmarketd.serve import views
from logmarketd.serve.schemas import AnalysisSummary, FindingGroups, RecentEvents
from logmarketd.store.db import Store

PM = PotentialMetric(current=0, potential=0, improvement="x")
SLOW = "slow query took <n> ms: SELECT * FROM orders WHERE id=<n> (p95 8622 ms, n=3)"


def ev(text: str, line: int = 1) -> Evidence:
    return Evidence(line=line, text=text)


@pytest.mark.parametrize(
    ("title", "evidence", "example"),
    [
        (SLOW, ["2024-05-01 12:00:00 CRITICAL slow query took 2100 ms: SELECT * FROM orders"
                " WHERE id=74607"],
         "slow query took 2100 ms: SELECT * FROM orders WHERE id=74607 (p95 8622 ms, n=3)"),
        # the evidence line holding the template gives the values (the first, of equals)
        ("retry <n> of <n> failed", ["unrelated 7", "retry 2 of 5 failed", "retry 3 of 5 failed"],
         "retry 2 of 5 failed"),
        ("request req-<n> took <n> ms", ["INFO request req-92204 took 59188 ms"],
         "request req-92204 took 59188 ms"),
        ("offset <n> below zero", ["offset -3 below zero"], "offset -3 below zero"),
        ("connection from <ip> refused", ["conn from 10.0.0.1 ok", "connection from 10.0.0.1:443"
                                          " refused"], "connection from 10.0.0.1:443 refused"),
        ("at <ts>: job <uuid> lost", ["at 2024-05-01T12:00:00Z: job "
                                      "123e4567-e89b-12d3-a456-426614174000 lost"],
         "at 2024-05-01T12:00:00Z: job 123e4567-e89b-12d3-a456-426614174000 lost"),
        ("no placeholder here", ["no placeholder here"], None),
        (SLOW, [], None),  # no evidence: nothing to show but the template
        ("<n>", ["took 5"], None),  # a bare number anchors nothing
        (SLOW, ["a different line entirely"], None),
    ],
)  # fmt: skip
def test_example_title(title: str, evidence: list[str], example: str | None) -> None:
    assert views.example_title(title, [ev(t, n + 1) for n, t in enumerate(evidence)]) == example


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(tmp_path / "findings.db", sync="normal")
    try:
        yield s
    finally:
        await s.close()


def _analysis(aid: str, sub: str | None, ms: int, *, disk: bool = True) -> LogAnalysis:
    q = Quality(completeness=80, relevance=80, actionability=80, uniqueness=80, overall=80)
    line = f"12:00:00 CRITICAL slow query took {ms} ms: SELECT * FROM orders WHERE id=7"
    slow = PerformanceIssue(
        issue=SLOW, metric="sql duration", threshold=1000, actual=ms, optimization="index it",
        estimated_improvement="x", location=SLOW, severity="critical", fingerprint="fp-slow",
        agent_id="performance-analyzer", evidence=[ev(line)], count=100,
    )  # fmt: skip
    errors = [ErrorPattern(pattern="ERROR: disk full", location="disk", severity="medium",
                           impact="x", fingerprint="fp-disk", agent_id="error-detective",
                           evidence=[ev("ERROR disk full", 2)])] if disk else []  # fmt: skip
    return LogAnalysis(
        id=aid, source="runtime", timestamp=datetime.now(UTC), subPKPId=sub,
        ai_insights=AIInsights(performance_issues=[slow], error_patterns=errors), quality=q,
        value_score=60, payment_amount=Decimal("1"),
        improvement_potential=ImprovementPotential(development_speed=PM, code_quality=PM,
                                                   error_reduction=PM, estimatedROI=1),
    )  # fmt: skip


async def _record(store: Store, *analyses: LogAnalysis, simulated: bool = False) -> None:
    ledger = Ledger(store, GameRules())
    for a in analyses:
        async with store.transaction() as tx:
            await ledger.record(tx, a, new_fingerprints=set(), simulated=simulated,
                                content_sha256=None)  # fmt: skip


async def test_findings_are_grouped_across_analyses_and_filtered(store: Store) -> None:
    """Three analyses holding the same slow query make one group (300 occurrences, 3
    analyses, first and last seen); a simulated one counts for nothing; the filters narrow
    the groups and their counts."""
    await _record(store, _analysis("a1", "alice", 2100), _analysis("a2", "bob", 3000),
                  _analysis("a3", "alice", 4000, disk=False))  # fmt: skip
    await _record(store, _analysis("s1", "alice", 9999), simulated=True)
    out = await views.finding_groups(store)
    FindingGroups.model_validate(out)
    assert out["totalGroups"] == 2 and out["subPKPs"] == ["alice", "bob"]
    slow, disk = sorted(out["groups"], key=lambda g: g["fingerprint"], reverse=True)
    assert (slow["fingerprint"], slow["occurrences"], slow["analyses"]) == ("fp-slow", 300, 3)
    assert (slow["paidAnalyses"], slow["unpaidAnalyses"]) == (0, 3)
    assert slow["subPKPs"] == ["alice", "bob"] and slow["subPKPCount"] == 2
    assert slow["example"].startswith("slow query took 2100 ms")  # the first occurrence's
    assert slow["location"] is None  # a template is no place to go to
    assert slow["firstSeen"] <= slow["lastSeen"]
    assert (disk["analyses"], disk["location"], disk["agentId"]) == (2, None, "error-detective")
    assert "example" not in disk

    bob = await views.finding_groups(store, sub_pkp_id="bob")
    assert [(g["fingerprint"], g["analyses"]) for g in bob["groups"]] == [
        ("fp-disk", 1),
        ("fp-slow", 1),
    ] or sorted(g["fingerprint"] for g in bob["groups"]) == ["fp-disk", "fp-slow"]
    critical = await views.finding_groups(store, severity="critical")
    assert [g["fingerprint"] for g in critical["groups"]] == ["fp-slow"]
    agent = await views.finding_groups(store, agent="error-detective")
    assert [g["fingerprint"] for g in agent["groups"]] == ["fp-disk"]
    assert (await views.finding_groups(store, paid=True))["groups"] == []
    assert (await views.finding_groups(store, paid=False))["totalGroups"] == 2
    limited = await views.finding_groups(store, limit=1)
    assert len(limited["groups"]) == 1 and limited["totalGroups"] == 2


async def test_a_summary_shows_only_real_locations_and_says_if_payable(store: Store) -> None:
    a = _analysis("a1", "alice", 2100)
    summary = views._summary(a)
    AnalysisSummary.model_validate(summary)
    assert [f["location"] for f in summary["findings"]] == [None, None]  # "disk", a template
    assert summary["payable"] is True and summary["totalFindings"] == 2
    assert views._summary(a.model_copy(update={"sub_pkp_id": None}))["payable"] is False
    assert views._summary(a.model_copy(update={"paid": True}))["payable"] is False
    located = a.model_copy(deep=True)
    located.ai_insights.error_patterns[0].location = "api/repo.py:42"
    assert views._summary(located)["findings"][0]["location"] == "api/repo.py:42"


async def test_no_events_yet(store: Store) -> None:
    out = await views.recent_events(store)
    RecentEvents.model_validate(out)
    assert out == {"events": [], "lastId": None}

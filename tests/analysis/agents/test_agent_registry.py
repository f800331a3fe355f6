"""One agent registry: an agent declared once is run, published, listed and counted.

The fifth agent (``log_hygiene``) is a new module and one ``register`` call; nothing else in
the daemon is edited for it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from logmarketd.analysis.agents import AGENTS, agents
from logmarketd.analysis.agents.base import KIND_TO_FIELD
from logmarketd.analysis.agents.registry import (
    agent_for_insight_field,
    enabled_agents,
    insight_fields,
    register,
    unregister,
)
from logmarketd.analysis.analyse import analyze_log
from logmarketd.settings import Settings

from tests.analysis.agents.log_hygiene import LOG_HYGIENE
from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"
LOG = (
    "".join(f"2024-05-01 10:00:0{n} DEBUG cache: lookup key=user:{n} hit\n" for n in range(5))
    + "2024-05-01 10:00:09 ERROR api: upstream timed out\n"
)


@pytest.fixture
def hygiene() -> Iterator[None]:
    register(LOG_HYGIENE)
    try:
        yield
    finally:
        unregister(LOG_HYGIENE.id)


def test_the_builtin_agents_are_the_seeds_four() -> None:
    """Ids, names, fields and switches of the seed's agents, in the seed's order."""
    assert [(a.id, a.name, a.insight_field, a.setting) for a in AGENTS] == [
        ("error-detective", "Error Detective", "error_patterns", "ai_monitor_error_detective"),
        ("performance-analyzer", "Performance Analyzer", "performance_issues",
         "ai_monitor_performance"),
        ("security-guardian", "Security Guardian", "security_concerns", "ai_monitor_security"),
        ("quality-inspector", "Quality Inspector", "improvement_opportunities",
         "ai_monitor_quality"),
    ]  # fmt: skip
    assert insight_fields() == {
        "error_patterns": "error-detective",
        "performance_issues": "performance-analyzer",
        "security_concerns": "security-guardian",
        "improvement_opportunities": "quality-inspector",
    }
    assert agent_for_insight_field("security_concerns") == "security-guardian"
    assert enabled_agents(Settings(ai_monitor_quality=False)) == [
        "error-detective", "performance-analyzer", "security-guardian"
    ]  # fmt: skip


def test_every_builtin_finding_lands_in_its_agents_field() -> None:
    """The field an agent declares is the one its findings are published in."""
    from logmarketd.samples import SAMPLES

    field_of = {a.id: a.insight_field for a in agents()}
    for _, source, content in SAMPLES:
        insights = analyze_log(content, source).ai_insights
        for field in KIND_TO_FIELD.values():
            for f in getattr(insights, field):
                assert field_of[f.agent_id] == field, (source, f.agent_id, field)


def test_a_registered_agent_runs_and_its_findings_are_published(hygiene: None) -> None:
    """Registered: it runs on the sources it monitors and its findings carry its id; it does
    not take the default credit of a field from the seed's agent."""
    assert [a.id for a in agents()][-1] == "log-hygiene"
    assert "log-hygiene" in enabled_agents(Settings())
    ours = [
        f
        for f in analyze_log(LOG, "runtime").ai_insights.improvement_opportunities
        if f.agent_id == "log-hygiene"
    ]
    assert len(ours) == 1 and ours[0].area.startswith("debug logging is on (5 DEBUG lines)")
    assert ours[0].count == 5 and [e.line for e in ours[0].evidence] == [1, 2, 3]
    assert not analyze_log(LOG, "build").ai_insights.improvement_opportunities
    assert agent_for_insight_field("improvement_opportunities") == "quality-inspector"
    with pytest.raises(ValueError, match="registered already"):
        register(LOG_HYGIENE)


def test_unregistered_it_is_gone() -> None:
    assert "log-hygiene" not in [a.id for a in agents()]
    assert not [
        f
        for f in analyze_log(LOG, "runtime").ai_insights.improvement_opportunities
        if f.agent_id == "log-hygiene"
    ]


class HygieneDaemon(DaemonProcess):
    """The real daemon, started with the fifth agent registered."""

    def command(self) -> list[str]:
        cmd = super().command()
        return [cmd[0], "-m", "tests.analysis.agents.log_hygiene", *cmd[3:]]


def test_the_daemon_lists_counts_and_credits_a_registered_agent(short_tmp: Path) -> None:
    """Through the real daemon: GET /agents lists the fifth agent, enabled and counted; an
    analysed log shows its finding and counts it as one log analysed, one insight."""
    d = HygieneDaemon(short_tmp, marketplace=True).start()
    try:
        token = d.admin_token
        status, analysis = http(
            "POST", d.url + API + "/analyze",
            {"source": "runtime", "logContent": LOG, "subPKPId": "hana"}, token=token,
        )  # fmt: skip
        assert status == 200, analysis
        found = analysis["aiInsights"]["improvementOpportunities"]
        assert [f["agentId"] for f in found] == ["log-hygiene"]
        _, body = http("GET", d.url + API + "/agents", token=token)
    finally:
        d.stop()
    listed = {a["id"]: a for a in body["agents"]}
    assert list(listed)[-1] == "log-hygiene" and body["totalAgents"] == 5
    assert body["activeAgents"] == 5
    ours = listed["log-hygiene"]
    assert (ours["name"], ours["monitoredStages"], ours["enabled"]) == (
        "Log Hygiene", ["runtime"], True
    )  # fmt: skip
    assert (ours["logsAnalyzed"], ours["insightsGenerated"]) == (1, 1)
    assert listed["quality-inspector"]["logsAnalyzed"] == 1  # every agent reads every log

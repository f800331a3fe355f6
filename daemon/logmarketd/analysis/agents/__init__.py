"""The four analysis agents of the seed, as an offline rule engine.

``AGENTS`` lists them in the seed's order (Error Detective, Performance Analyzer, Security
Guardian, Quality Inspector); ``run_agents`` runs the enabled ones that monitor the log's
source and returns their findings. Findings become the seed's insight models in
``logmarketd.analysis.agents.publish`` (where evidence is redacted).
"""

from __future__ import annotations

from collections.abc import Iterable

from logmarketd.analysis.agents.base import Agent, AgentConfig, Context, Finding
from logmarketd.analysis.agents.errors import ERROR_DETECTIVE
from logmarketd.analysis.agents.performance import PERFORMANCE_ANALYZER
from logmarketd.analysis.agents.quality import QUALITY_INSPECTOR
from logmarketd.analysis.agents.security import SECURITY_GUARDIAN

__all__ = ["AGENTS", "Agent", "AgentConfig", "Context", "Finding", "agents_for", "run_agents"]

AGENTS: tuple[Agent, ...] = (
    ERROR_DETECTIVE,
    PERFORMANCE_ANALYZER,
    SECURITY_GUARDIAN,
    QUALITY_INSPECTOR,
)


def agents_for(source: str, enabled: Iterable[str] | None = None) -> list[Agent]:
    """The agents that monitor ``source``, limited to the ids in ``enabled`` (None: all)."""
    allowed = None if enabled is None else set(enabled)
    return [
        a for a in AGENTS if source in a.monitored_stages and (allowed is None or a.id in allowed)
    ]


def run_agents(
    text: str, source: str, enabled: Iterable[str] | None = None, config: AgentConfig | None = None
) -> tuple[Context, list[Finding]]:
    """Run the agents for ``source`` over ``text``; returns the parsed context and the findings."""
    ctx = Context(text, source, config)
    findings: list[Finding] = []
    for agent in agents_for(source, enabled):
        findings.extend(agent.run(ctx))
    return ctx, findings

"""The analysis agents, as an offline rule engine.

The agents are declared in ``logmarketd.analysis.agents.registry`` (the seed's four in the
seed's order: Error Detective, Performance Analyzer, Security Guardian, Quality Inspector, and
any registered later); ``run_agents`` runs the enabled ones that monitor the log's source and
returns their findings. Findings become the seed's insight models in
``logmarketd.analysis.agents.publish`` (where evidence is redacted).
"""

from __future__ import annotations

from collections.abc import Iterable

from logmarketd.analysis.agents.base import Agent, AgentConfig, Context, Finding
from logmarketd.analysis.agents.registry import (
    BUILTIN,
    agent_for_insight_field,
    agents,
    agents_for,
    enabled_agents,
    insight_fields,
    register,
)

__all__ = [
    "AGENTS",
    "Agent",
    "AgentConfig",
    "Context",
    "Finding",
    "agent_for_insight_field",
    "agents",
    "agents_for",
    "enabled_agents",
    "insight_fields",
    "register",
    "run_agents",
]

# The built-in agents; ``agents()`` also lists those registered at run time.
AGENTS: tuple[Agent, ...] = BUILTIN


def run_agents(
    text: str, source: str, enabled: Iterable[str] | None = None, config: AgentConfig | None = None
) -> tuple[Context, list[Finding]]:
    """Run the agents for ``source`` over ``text``; returns the parsed context and the findings."""
    ctx = Context(text, source, config)
    findings: list[Finding] = []
    for agent in agents_for(source, enabled):
        findings.extend(agent.run(ctx))
    return ctx, findings

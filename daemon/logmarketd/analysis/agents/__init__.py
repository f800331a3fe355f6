"""The analysis agents, as an offline rule engine.

The agents are declared in ``logmarketd.analysis.agents.registry`` (the seed's four in the
seed's order: Error Detective, Performance Analyzer, Security Guardian, Quality Inspector, and
any registered later); ``run_agents`` runs the enabled ones that monitor the log's source and
returns their findings. Findings become the seed's insight models in
``logmarketd.analysis.agents.publish`` (where evidence is redacted).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
    chosen = agents_for(source, enabled)
    if len(ctx.text) >= PREFETCH_CHARS:
        _learn_keywords(chosen, source)
        ctx.prefetch()
    findings: list[Finding] = []
    for agent in chosen:
        findings.extend(agent.run(ctx))
    return ctx, findings


# From this size on, the keywords the detectors will ask for are found in one pass over the
# log (``Context.prefetch``) rather than one ``str.find`` pass each.
PREFETCH_CHARS = 256 * 1024
_learned: set[tuple[tuple[str, ...], str]] = set()


def _learn_keywords(chosen: Sequence[Agent], source: str) -> None:
    """Once per process, set of agents and source (some detectors scan for more in build
    and test logs): run them over an empty log, so that the context has seen every keyword
    their detectors scan the whole log for (the first scan of each)."""
    learnt = (tuple(a.id for a in chosen), source)
    if learnt in _learned:
        return
    empty = Context("\n", source)
    for agent in chosen:
        agent.run(empty)
    _learned.add(learnt)

"""Every analysis agent, declared once: who it is, what it fills, when it runs, what it runs.

An agent is an :class:`~logmarketd.analysis.agents.base.Agent`: id and display name (the seed's
``GET /agents`` JSON), its expertise, the ``AIInsights`` field its findings fill, the
``Settings`` switch that turns it on (``ai_monitor_*``), the log sources it monitors, and its
detectors in order: its Python detectors, then its data rules (TOML packs, see
``logmarketd.analysis.rules``), which skip the lines an earlier detector reported. Everything
else reads this table: the runner (``agents_for``), the enabled list (``enabled_agents``),
``GET /agents``, the per-agent counts, and the default agent of an insight field (``agent_for_insight_field``, for findings that carry no agent id).

Adding an agent is a module with its detectors and one entry here (``BUILTIN``), or a
:func:`register` call at run time; nothing else changes. The built-in four keep the seed's
order, which is the order of ``GET /agents``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from logmarketd.analysis.agents import (
    builds,
    deploy,
    errors,
    leveled,
    panics,
    performance,
    profiles,
    quality,
    reports,
    scripting,
    secrets,
    security,
    shell,
    testfail,
    testfail_js,
    teststatus,
    traces,
)
from logmarketd.analysis.agents.base import KIND_TO_FIELD, Agent
from logmarketd.analysis.rules.book import detector as data_rules

if TYPE_CHECKING:
    from logmarketd.settings import Settings

__all__ = [
    "BUILTIN",
    "ERROR_DETECTIVE",
    "PERFORMANCE_ANALYZER",
    "QUALITY_INSPECTOR",
    "SECURITY_GUARDIAN",
    "agent",
    "agent_for_insight_field",
    "agents",
    "agents_for",
    "enabled_agents",
    "insight_fields",
    "is_enabled",
    "register",
    "unregister",
]

# Every agent reads every log, whatever source it was declared as: a compiler error tailed as
# "runtime" is still one. (The seed gives the Performance Analyzer test, deploy and runtime,
# and the Quality Inspector build and test; measured on the corpus declared as "runtime",
# limiting them lost 41% of the findings.) The source only tunes a detector.
ALL_STAGES = ("build", "test", "deploy", "runtime")

ERROR_DETECTIVE = Agent(
    id="error-detective",
    name="Error Detective",
    expertise="Error pattern recognition, root cause analysis",
    insight_field="error_patterns",
    # The seed lists build, test, runtime; deploy is added because this agent finds deploy
    # failures (health checks, migrations, address in use), which live in deploy logs:
    # without it a failed rollout submitted as "deploy" would go unseen.
    monitored_stages=ALL_STAGES,
    setting="ai_monitor_error_detective",
    # Tests, then deploy and crash rules, then compilers, then stack traces, then the data
    # rules (each names one failure), then the tools' closing lines as cascade-only findings,
    # then the generic ERROR/FATAL lines that nothing more specific explained.
    detectors=(
        testfail.pytest_failures,
        testfail.unittest_failures,
        testfail_js.node_tap_failures,
        testfail_js.jest_failures,
        testfail_js.mocha_failures,
        testfail.go_test_failures,
        testfail.cargo_test_failures,
        testfail.junit_failures,
        reports.junit_xml_failures,
        teststatus.status_failures,
        deploy.deploy_failures,
        errors.crashes,
        builds.package_errors,
        builds.compiler_errors,
        traces.python_tracebacks,
        traces.python_syntax_errors,
        traces.java_js_traces,
        panics.go_panics,
        panics.go_data_races,
        panics.rust_panics,
        scripting.php_errors,
        scripting.ruby_errors,
        scripting.tcl_errors,
        shell.shell_errors,
        errors.http_5xx,
        data_rules("error-detective", "error"),
        builds.build_summaries,
        errors.leveled_errors,
        errors.tool_failures,
        errors.exit_context,
    ),
)

PERFORMANCE_ANALYZER = Agent(
    id="performance-analyzer",
    name="Performance Analyzer",
    expertise="Performance optimization, bottleneck detection",
    insight_field="performance_issues",
    monitored_stages=ALL_STAGES,
    setting="ai_monitor_performance",
    detectors=(
        performance.slow_operations,
        performance.memory,
        performance.memory_growth,
        performance.gc_pressure,
        performance.timeouts_retries,
        profiles.profile_hot_spots,
        profiles.repeated_queries,
        data_rules("performance-analyzer", "performance"),
        leveled.slow_signals,
    ),
)

SECURITY_GUARDIAN = Agent(
    id="security-guardian",
    name="Security Guardian",
    expertise="Security analysis, threat detection",
    insight_field="security_concerns",
    monitored_stages=ALL_STAGES,
    setting="ai_monitor_security",
    detectors=(
        security.auth_attacks,
        security.web_attacks,
        security.probing_bursts,
        reports.sarif_security,
        secrets.leaked_secrets,
        security.vulnerable_dependencies,
        security.compiler_security_warnings,
        security.tls_errors,
        data_rules("security-guardian", "security"),
        security.privilege_escalation,
        security.ai_instructions,
        leveled.risk_warnings,
    ),
)

QUALITY_INSPECTOR = Agent(
    id="quality-inspector",
    name="Quality Inspector",
    expertise="Code quality, test coverage, best practices",
    insight_field="improvement_opportunities",
    monitored_stages=ALL_STAGES,
    setting="ai_monitor_quality",
    detectors=(
        reports.sarif_quality,
        quality.compiler_warnings,
        quality.deprecations,
        quality.lint,
        quality.test_hygiene,
        quality.coverage,
        quality.noise,
        data_rules("quality-inspector", "improvement"),
        leveled.leveled_warnings,
    ),
)

# The seed's four, in the seed's order.
BUILTIN: tuple[Agent, ...] = (
    ERROR_DETECTIVE,
    PERFORMANCE_ANALYZER,
    SECURITY_GUARDIAN,
    QUALITY_INSPECTOR,
)

_registered: list[Agent] = list(BUILTIN)


def agents() -> tuple[Agent, ...]:
    """Every registered agent, in registration order (the built-in four first)."""
    return tuple(_registered)


def agent(agent_id: str) -> Agent:
    """The registered agent with this id; ``KeyError`` when there is none."""
    for a in _registered:
        if a.id == agent_id:
            return a
    raise KeyError(agent_id)


def register(new: Agent) -> None:
    """Add an agent after the registered ones; ``ValueError`` if its id is taken."""
    if any(a.id == new.id for a in _registered):
        raise ValueError(f"an agent {new.id!r} is registered already")
    _registered.append(new)


def unregister(agent_id: str) -> None:
    """Remove a registered agent (``KeyError`` when there is none)."""
    _registered.remove(agent(agent_id))


def is_enabled(a: Agent, settings: Settings | None) -> bool:
    """Whether the settings switch ``a`` on (no settings, or an agent without a switch: on)."""
    return settings is None or a.setting is None or bool(getattr(settings, a.setting))


def enabled_agents(settings: Settings | None) -> list[str]:
    """Ids of the agents switched on in the settings (AI_MONITOR_* variables)."""
    return [a.id for a in _registered if is_enabled(a, settings)]


def agents_for(source: str, enabled: Iterable[str] | None = None) -> list[Agent]:
    """The agents that monitor ``source``, limited to the ids in ``enabled`` (None: all)."""
    allowed = None if enabled is None else set(enabled)
    return [
        a
        for a in _registered
        if source in a.monitored_stages and (allowed is None or a.id in allowed)
    ]


def insight_fields() -> dict[str, str]:
    """Each ``AIInsights`` field (in the seed's order) mapped to the id of the first registered
    agent that fills it: the agent a finding without an ``agentId`` is credited to."""
    out: dict[str, str] = {}
    for field in KIND_TO_FIELD.values():
        for a in _registered:
            if a.insight_field == field:
                out[field] = a.id
                break
    return out


def agent_for_insight_field(field: str) -> str:
    """The id of the agent credited with a finding of ``field`` (e.g. ``"error_patterns"``)
    that carries no agent id; ``KeyError`` when no registered agent fills that field."""
    return insight_fields()[field]

"""A fifth agent, as a new agent is written: a module with its detector and its declaration.

Log Hygiene flags runtime logs that keep DEBUG logging on. Nothing outside this module and
the registry knows about it; ``python -m tests.analysis.agents.log_hygiene ARGS`` runs the
daemon (``logmarketd ARGS``) with it registered.
"""

from __future__ import annotations

import sys

from logmarketd.analysis.agents.base import Agent, Context, Finding

__all__ = ["LOG_HYGIENE", "debug_logging"]


def debug_logging(ctx: Context) -> list[Finding]:
    """Three or more DEBUG lines in a runtime log: debug logging left on in production."""
    idx = ctx.lines_with(" DEBUG ")
    if len(idx) < 3:
        return []
    return [
        Finding(
            kind="improvement",
            title=f"debug logging is on ({len(idx)} DEBUG lines)",
            severity="low",
            key="hygiene:debug",
            lines=idx,
            count=len(idx),
            fix="Log at INFO in production; turn DEBUG on per component while investigating.",
            evidence_lines=idx[:3],
            effort="low",
            impact="low",
        )
    ]


LOG_HYGIENE = Agent(
    id="log-hygiene",
    name="Log Hygiene",
    expertise="Logging practice: levels, volume, noise",
    insight_field="improvement_opportunities",
    monitored_stages=("runtime",),
    setting=None,
    detectors=(debug_logging,),
)


if __name__ == "__main__":
    from logmarketd.analysis.agents.registry import register
    from logmarketd.main import main

    register(LOG_HYGIENE)
    sys.exit(main(sys.argv[1:]))

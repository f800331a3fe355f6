"""Rules as data: declared in TOML packs, each proving its own examples, run by the agents.

``model`` parses a pack (the format is in its doc), ``match`` runs rules over a log and checks
their examples, ``book`` holds the rules in force (shipped ``packs/*.toml`` and a user
directory's, reloaded when a pack changes) and makes each agent's data-rule detector, which
the agents' registry appends after the agent's Python detectors.
"""

from __future__ import annotations

# The agents first: their registry makes the data-rule detectors from ``book``, whose modules
# need the agents' base types; importing them here keeps either import order working.
import logmarketd.analysis.agents  # noqa: F401  # isort: skip
from logmarketd.analysis.rules.book import (
    CHECK_EVERY,
    RuleBook,
    check_packs,
    current,
    detector,
    load_rules,
    shipped_packs,
    use_dir,
)
from logmarketd.analysis.rules.match import check_rule, run_rule, run_rules
from logmarketd.analysis.rules.model import AGENT_KINDS, Rule, RuleError, parse_pack

__all__ = [
    "AGENT_KINDS",
    "CHECK_EVERY",
    "Rule",
    "RuleBook",
    "RuleError",
    "check_packs",
    "check_rule",
    "current",
    "detector",
    "load_rules",
    "parse_pack",
    "run_rule",
    "run_rules",
    "shipped_packs",
    "use_dir",
]

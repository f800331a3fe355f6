"""A data rule as declared in a TOML pack, parsed and checked once.

A pack is a TOML file of ``[[rule]]`` tables. A rule names its ``id``, the ``agent`` whose
findings it makes, ``severity``, a ``title`` (and optional ``detail``, ``fix``) that may name
the regex's named captures (``"deadlock detected on {table}"``), optional ``sources`` (default:
every source), ``priority`` (higher runs first; default 0), ``cascade`` (a tool's closing line,
dropped when the agent has a specific finding), ``keywords`` (literal, any case: only lines
holding one are matched, the same cheap prefilter the Python detectors use) and exactly one
match table:

- ``[rule.line]``: ``regex`` searched in each line, optional ``ignore`` regex;
- ``[rule.count]``: ``regex`` with a named ``key`` capture and a ``threshold``: a finding per key
  seen at least ``threshold`` times in the log (fail2ban's maxretry, the log being the window);
- ``[rule.block]``: ``start`` and ``end`` regexes and ``max_lines``; captures of the lines in
  between from ``[rule.block.captures]`` (name -> regex holding that named group).

Every rule carries ``examples`` (logs that must make a finding) and ``counter_examples`` (logs
that must not): a rule proves itself before it is used.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from logmarketd.analysis.agents.base import SEVERITY_RANK, Kind
from logmarketd.errors import LogmarketdError
from logmarketd.models import SOURCES

__all__ = ["AGENT_KINDS", "MATCHES", "Rule", "RuleError", "parse_pack"]

# The agents that run data rules, with the kind of finding each makes; filled as the agents
# are declared (``logmarketd.analysis.rules.book.detector``).
AGENT_KINDS: dict[str, Kind] = {}
MATCHES = ("line", "count", "block")
_RULE_KEYS = {
    "id", "agent", "severity", "title", "detail", "fix", "sources", "priority", "cascade",
    "keywords", "examples", "counter_examples", *MATCHES,
}  # fmt: skip
_MATCH_KEYS = {
    "line": ({"regex"}, {"ignore"}),
    "count": ({"regex", "threshold"}, set()),
    "block": ({"start", "end"}, {"max_lines", "captures"}),
}
_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,79}$")
_EXTRA_FIELDS = {"count", "key", "line"}  # template fields every rule may use


class RuleError(LogmarketdError, ValueError):
    """A rule pack cannot be used; the message is one line naming the file and the rule."""


@dataclass(frozen=True)
class Rule:
    """One parsed rule; see the module doc for the fields' meaning."""

    id: str
    agent: str
    kind: Kind
    severity: str
    title: str
    detail: str
    fix: str | None
    sources: frozenset[str] | None
    priority: int
    cascade: bool
    keywords: tuple[str, ...]
    match: str
    regex: re.Pattern[str]  # line and count: the regex; block: the start
    ignore: re.Pattern[str] | None
    threshold: int
    end: re.Pattern[str] | None
    max_lines: int
    captures: tuple[tuple[str, re.Pattern[str]], ...]  # block: name -> regex of that group
    examples: tuple[str, ...]
    counter_examples: tuple[str, ...]
    origin: str  # the pack's file

    def where(self) -> str:
        return f"{self.origin}: rule {self.id!r}"


def parse_pack(text: str, origin: str) -> list[Rule]:
    """The rules of one pack's TOML text; ``RuleError`` naming ``origin`` (and the rule)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RuleError(f"{origin}: invalid TOML: {exc}") from None
    extra = set(data) - {"rule"}
    if extra:
        raise RuleError(f"{origin}: unknown top-level key(s) {sorted(extra)}; rules are [[rule]]")
    tables = data.get("rule", [])
    if not isinstance(tables, list) or not tables:
        raise RuleError(f"{origin}: no [[rule]] table")
    rules: list[Rule] = []
    for i, table in enumerate(tables, 1):
        rule_id = table.get("id") if isinstance(table, dict) else None
        where = (
            f"{origin}: rule {rule_id!r}" if isinstance(rule_id, str) else f"{origin}: rule #{i}"
        )
        try:
            rule = _rule(table, origin)
        except (ValueError, TypeError, KeyError) as exc:
            raise RuleError(f"{where}: {exc}") from None
        if any(r.id == rule.id for r in rules):
            raise RuleError(f"{where}: the id is used twice in this pack")
        rules.append(rule)
    return rules


def _rule(t: Mapping[str, Any], origin: str) -> Rule:
    unknown = set(t) - _RULE_KEYS
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}")
    rid = _str(t, "id")
    if not _ID.match(rid):
        raise ValueError("id must be lowercase letters, digits, '.', '_', '-' (at most 80)")
    agent = _str(t, "agent")
    if agent not in AGENT_KINDS:
        raise ValueError(f"unknown agent {agent!r}; one of {', '.join(AGENT_KINDS)}")
    severity = _str(t, "severity")
    if severity not in SEVERITY_RANK:
        raise ValueError(f"severity {severity!r} is not one of {', '.join(SEVERITY_RANK)}")
    kinds = [k for k in MATCHES if k in t]
    if len(kinds) != 1:
        raise ValueError(
            f"needs exactly one of [rule.line], [rule.count], [rule.block], has {kinds}"
        )
    match = kinds[0]
    m = _table(t[match], match)
    sources = t.get("sources")
    if sources is not None and (not _strings(sources) or not set(sources) <= set(SOURCES)):
        raise ValueError(f"sources must be a list of {', '.join(SOURCES)}")
    keywords: list[str] = t.get("keywords") or []
    if not _strings(keywords) or not all(keywords):
        raise ValueError("keywords must be a non-empty list of literal strings (the prefilter)")
    examples: list[str] = t.get("examples") or []
    counter: list[str] = t.get("counter_examples") or []
    if not _strings(examples):
        raise ValueError("examples must be a non-empty list of log texts that make the finding")
    if not _strings(counter):
        raise ValueError("counter_examples must be a non-empty list of log texts that do not")
    regex = _regex(m, "start" if match == "block" else "regex")
    captures = tuple((name, _compile(rx, f"captures.{name}"))
                     for name, rx in _captures(m).items())  # fmt: skip
    end = _regex(m, "end") if match == "block" else None
    rule = Rule(
        id=rid, agent=agent, kind=AGENT_KINDS[agent], severity=severity, title=_str(t, "title"),
        detail=_str(t, "detail", ""), fix=t.get("fix"), priority=_int(t, "priority", 0),
        sources=frozenset(sources) if sources is not None else None,
        cascade=_bool(t, "cascade"), keywords=tuple(k.lower() for k in keywords), match=match,
        regex=regex, ignore=_regex(m, "ignore") if "ignore" in m else None,
        threshold=_int(m, "threshold", 1), end=end, max_lines=_int(m, "max_lines", 50),
        captures=captures, examples=tuple(examples), counter_examples=tuple(counter), origin=origin,
    )  # fmt: skip
    _check_templates(rule)
    return rule


def _table(value: Any, match: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"[rule.{match}] must be a table")
    need, may = _MATCH_KEYS[match]
    missing, unknown = need - set(value), set(value) - need - may
    if missing or unknown:
        raise ValueError(f"[rule.{match}] needs {sorted(need)}, may have {sorted(may)}; "
                         f"missing {sorted(missing)}, unknown {sorted(unknown)}")  # fmt: skip
    if match == "count" and _int(value, "threshold", 0) < 1:
        raise ValueError("threshold must be at least 1")
    if match == "block" and _int(value, "max_lines", 50) < 2:
        raise ValueError("max_lines must be at least 2")
    return value


def _captures(m: Mapping[str, Any]) -> dict[str, str]:
    caps = m.get("captures", {})
    if not isinstance(caps, dict) or not all(isinstance(v, str) for v in caps.values()):
        raise ValueError("[rule.block.captures] maps a name to a regex")
    return caps


def _check_templates(rule: Rule) -> None:
    groups = set(rule.regex.groupindex) | set(rule.end.groupindex if rule.end else ())
    groups |= {name for name, _ in rule.captures} | _EXTRA_FIELDS
    for name, rx in rule.captures:
        if name not in rx.groupindex:
            raise ValueError(f"captures.{name}: the regex has no group (?P<{name}>...)")
    if rule.match == "count" and "key" not in rule.regex.groupindex:
        raise ValueError("a count regex needs a named group (?P<key>...)")
    for label, template in (("title", rule.title), ("detail", rule.detail), ("fix", rule.fix)):
        if template is None:
            continue
        if not isinstance(template, str):
            raise ValueError(f"{label} must be a string")
        try:
            fields = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{label}: bad template: {exc}") from None
        for f in fields:
            if f not in groups:
                raise ValueError(f"{label} names {{{f}}}, which no named capture of the rule is")


def _compile(pattern: str, label: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{label}: bad regex: {exc}") from None


def _regex(t: Mapping[str, Any], key: str) -> re.Pattern[str]:
    value = t.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a regex string")
    return _compile(value, key)


def _str(t: Mapping[str, Any], key: str, default: str | None = None) -> str:
    value = t.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ValueError(f"{key} must be a non-empty string")
    return value


def _int(t: Mapping[str, Any], key: str, default: int) -> int:
    value = t.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key} must be an integer")
    return value


def _bool(t: Mapping[str, Any], key: str) -> bool:
    value = t.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key} must be true or false")
    return value


def _strings(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) for v in value)

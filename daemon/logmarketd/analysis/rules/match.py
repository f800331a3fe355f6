"""Data rules run over a log: each match becomes an ordinary ``Finding``.

Rules run highest ``priority`` first. Only lines holding one of a rule's keywords are matched
(``ctx.lines_with_ci``, cached per keyword), and a line in ``ctx.claimed`` (reported by an
earlier detector of the agent, or taken by an earlier rule) is skipped; a rule's matched lines
are claimed in turn. A match capturing an allowlisted address (``allow_addresses``) is
dropped, as the Python detectors drop it. Matches of one issue (same rule, same captures once masked) are one
finding, counted: the key is the rule id and the masked captures, so the same issue with
other values has the same fingerprint.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from logmarketd.analysis.agents.base import Context, Finding, mask
from logmarketd.analysis.rules.model import Rule

__all__ = ["check_rule", "run_rule", "run_rules"]

_MAX_CAPTURE = 200  # characters of a capture shown in a title
Match = tuple[list[int], dict[str, str]]  # the lines of one match, its captures


def run_rules(rules: Iterable[Rule], ctx: Context) -> list[Finding]:
    """The findings of ``rules`` (any agents') on the log, highest priority first."""
    out: list[Finding] = []
    for rule in sorted(rules, key=lambda r: -r.priority):
        out.extend(run_rule(rule, ctx))
    return out


def run_rule(rule: Rule, ctx: Context) -> list[Finding]:
    """The findings of one rule; claims the lines it reports."""
    if rule.sources is not None and ctx.source not in rule.sources:
        return []
    if rule.match == "count":
        matches = _count(rule, ctx)
    elif rule.match == "block":
        matches = _blocks(rule, ctx)
    else:
        matches = _lines(rule, ctx)
    found: dict[str, Finding] = {}
    allowed = ctx.config.allow_addresses
    for lines, caps in matches:
        if allowed and not allowed.isdisjoint(caps.values()):
            continue  # an address the deployment allows (its own scanner): never reported
        ctx.claimed.update(lines)
        key = f"rule:{rule.id}" + "".join(
            f":{mask(v)}" for k, v in sorted(caps.items()) if k not in ("count", "line")
        )
        same = found.get(key)
        if same is not None:
            same.count += int(caps.get("count", "1"))
            same.lines.extend(lines)
            continue
        found[key] = _finding(rule, key, lines, caps)
    return list(found.values())


class _Fields(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def _finding(rule: Rule, key: str, lines: list[int], caps: dict[str, str]) -> Finding:
    # a capture of an alternative that did not match fills its {name} with nothing
    fields = _Fields({"count": "1", "line": str(lines[0] + 1), **caps})
    location = caps.get("location") or (caps.get("key") if rule.match == "count" else None)
    if location is None and caps.get("file") and caps.get("lineno"):
        location = f"{caps['file']}:{caps['lineno']}"  # "at rotate.pl line 7": rotate.pl:7
    return Finding(
        kind=rule.kind, title=rule.title.format_map(fields)[:300], severity=rule.severity,  # type: ignore[arg-type]
        key=key, lines=lines, location=location,
        detail=rule.detail.format_map(fields), fix=rule.fix.format_map(fields) if rule.fix else None,
        count=int(fields["count"]), evidence_lines=lines[:3], summary=rule.cascade,
    )  # fmt: skip


def _captures(m: re.Match[str], into: dict[str, str] | None = None) -> dict[str, str]:
    caps = into if into is not None else {}
    for name, value in m.groupdict().items():
        if value is not None and name not in caps:
            caps[name] = value[:_MAX_CAPTURE]
    return caps


def _candidates(rule: Rule, ctx: Context) -> Iterable[tuple[int, str]]:
    for n in ctx.lines_with_ci(*rule.keywords):
        if n not in ctx.claimed:
            yield n, ctx.lines[n]


def _lines(rule: Rule, ctx: Context) -> list[Match]:
    out: list[Match] = []
    for n, line in _candidates(rule, ctx):
        m = rule.regex.search(line)
        if m and not (rule.ignore and rule.ignore.search(line)):
            out.append(([n], _captures(m)))
    return out


def _count(rule: Rule, ctx: Context) -> list[Match]:
    """Matches per key; a key one of whose lines an earlier detector reported is left to it
    (its finding is about that key already: the same address is not reported twice)."""
    per: dict[str, Match] = {}
    taken: set[str] = set()
    for n in ctx.lines_with_ci(*rule.keywords):
        m = rule.regex.search(ctx.lines[n])
        if not m:
            continue
        if n in ctx.claimed:
            taken.add(m.group("key"))
            continue
        hit = per.setdefault(m.group("key"), ([], _captures(m)))
        hit[0].append(n)
    return [
        (lines, {**caps, "count": str(len(lines))})
        for key, (lines, caps) in per.items()
        if len(lines) >= rule.threshold and key not in taken
    ]


def _blocks(rule: Rule, ctx: Context) -> list[Match]:
    assert rule.end is not None
    out: list[Match] = []
    done = -1
    for n, line in _candidates(rule, ctx):
        start = rule.regex.search(line)
        if n <= done or not start:
            continue
        caps = _captures(start)
        last = min(len(ctx.lines), n + rule.max_lines)
        for j in range(n + 1, last):
            end = rule.end.search(ctx.lines[j])
            if end:
                _block_captures(rule, ctx.lines[n : j + 1], caps)
                _captures(end, caps)
                out.append((list(range(n, j + 1)), caps))
                done = j
                break
    return out


def _block_captures(rule: Rule, lines: Sequence[str], caps: dict[str, str]) -> None:
    for name, rx in rule.captures:
        for line in lines:
            m = rx.search(line)
            if m and m.group(name) is not None:
                caps.setdefault(name, m.group(name)[:_MAX_CAPTURE])
                break


def check_rule(rule: Rule) -> list[str]:
    """One line per example that makes no finding and per counter-example that makes one."""
    source = min(rule.sources) if rule.sources else "runtime"
    failures: list[str] = []
    for label, texts, want in (("example", rule.examples, True),
                               ("counter-example", rule.counter_examples, False)):  # fmt: skip
        for i, text in enumerate(texts, 1):
            got = bool(run_rule(rule, Context(text.strip("\n") + "\n", source)))
            if got != want:
                verb = "makes no finding" if want else "makes a finding"
                failures.append(f"{rule.where()}: {label} {i} {verb}: {_head(text)!r}")
    return failures


def _head(text: str) -> str:
    line = next((s for s in text.splitlines() if s.strip()), "")
    return line[:80]

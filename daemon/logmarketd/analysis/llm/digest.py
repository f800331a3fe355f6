"""A window's digest for a model: what the rules found, and the lines they did not explain.

A model that sees only the rules' findings can never find what the rules missed. The digest
shows it, bounded in characters, the log's lines the rules left unexplained that look like a
problem (a failure, a warning, a security or performance word) or are rare in the window,
grouped by template (the statement that printed them: ``shape(ids=True)``), with their count,
line numbers and up to two example lines; and a one-line summary of each rule finding.

Every text shown is cleaned first: the secrets the rules found are masked, the redactor runs,
control characters go, lines are cut. Lines the rules report as addressed to an AI reviewer
(prompt injection) are *withheld*: the model never sees their text and may not cite them.

:func:`evidence_ceiling` is the severity a line's own words support (its level field when it
has one, else failure words); :func:`supports_kind` says whether a line's words fit a finding
kind. Both read the log only, never a model's answer: they bound what a model finding may be.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from logmarketd.analysis.agents.base import Finding, mask, shape
from logmarketd.analysis.llm.types import SEVERITIES
from logmarketd.models import Severity

__all__ = [
    "AI_INSTRUCTION",
    "Digest",
    "Template",
    "build_digest",
    "evidence_ceiling",
    "supports_kind",
]

AI_INSTRUCTION = "ai-instruction"  # the key of the rules' prompt-injection finding

_MAX_LINE_CHARS = 300
_LINE_NUMBERS = 8  # line numbers listed per template
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")

# A level field near the start of a line (the logger's own judgement of the line).
_LEVEL = re.compile(
    r"(?:^|[\s\[(<|:])(?P<w>TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|SEVERE|FATAL|CRIT"
    r"|CRITICAL|PANIC|EMERG|ALERT|(?-i:LOG))(?=[\s\])>|:,]|$)"
    r"|\b(?:level|lvl|severity)[=:]\s*\"?(?P<v>\w+)",
    re.IGNORECASE,
)
_LEVELS: dict[str, Severity] = {
    "trace": "low", "debug": "low", "info": "low", "notice": "low", "log": "low",
    "warn": "medium", "warning": "medium",
    "error": "high", "err": "high", "severe": "high",
    "fatal": "critical", "crit": "critical", "critical": "critical", "panic": "critical",
    "emerg": "critical", "alert": "critical",
}  # fmt: skip
# "0 failed", "no errors": a count of nothing is no failure
_NONE = re.compile(
    r"\b(?:0|no|zero)\s+(?:[a-z]+\s+){0,2}(?:errors?|failed|failures?|warnings?)\b", re.IGNORECASE
)
_CRITICAL_WORDS = re.compile(
    r"\b(?:fatal|panic(?:ked)?|segmentation fault|core dumped|out of memory|oom-kill"
    r"|no space left|buffer overflow detected|stack smashing|kernel bug)\b",
    re.IGNORECASE,
)
_ERROR_WORDS = re.compile(
    r"\b(?:errors?|fail(?:ed|ure|s|ing)?|exception|traceback|denied|refused|unauthori[sz]ed"
    r"|forbidden|abort(?:ed)?|killed|timed out|timeout(?![-\w])|deadlock(?:ed)?|conflicts?"
    r"|cannot|can't|unable|not found|missing|expired|invalid|undefined reference|unresolved"
    r"|crash(?:ed)?|exit (?:code|status) [1-9]\d*|exited with [1-9]\d*|returned [1-9]\d* exit)\b"
    r"|✗",
    re.IGNORECASE,
)
_ERRNO = re.compile(
    r"\bE(?:ACCES|NOENT|PERM|CONNREFUSED|CONNRESET|ADDRINUSE|NOSPC|TIMEDOUT|PIPE|NOTFOUND"
    r"|AGAIN|EXIST|ISDIR|NOTDIR|MFILE|NOMEM|RESOLVE)\b"
)
_WARN_WORDS = re.compile(
    r"\b(?:warn(?:ing|ings)?|deprecat\w*|retry(?:ing)?|slow|below (?:the )?threshold"
    r"|insecure|unsafe|obsolete)\b|\[-W[\w-]+\]",
    re.IGNORECASE,
)
# Words that make a finding of this kind plausible on a line (``supports_kind``) ...
_KIND_WORDS = {
    "security": re.compile(
        r"auth|login|logon|passw|credential|denied|forbidden|unauthori|permission|privilege"
        r"|sudo|\bsu\b|setuid|setgid|u\+s|chmod|chown|\broot\b|certificat|\bcert\b|\btls\b"
        r"|\bssl\b|attack|inject|travers|\.\./|xss|csrf|cve-|vulnerab|brute|token|secret"
        r"|firewall|blocked|banned|rate.?limit|suspicious|malicious|exploit|overflow|fortify"
        r"|-wformat-security|unsafe|insecure|invalid user|failed password",
        re.IGNORECASE,
    ),
    "performance": re.compile(
        r"slow|time(?:d)? ?out|latency|\d\s*(?:ms|s|sec|seconds|min)\b|took|duration|elapsed"
        r"|memory|\bcpu\b|\bgc\b|pool|queue|backlog|throttl|exhaust|oom|load|worker",
        re.IGNORECASE,
    ),
}
# ... and, narrower, those that make a rare line worth a model's look (a routine line names
# durations and users too)
_SIGNAL_WORDS = re.compile(
    r"failed password|invalid user|denied|forbidden|unauthori|privilege|setuid|setgid|u\+s"
    r"|chmod [0-7]*[4-7][0-7]{3}|sudo:|\bsu:|certificate|travers|\.\./|inject|attack|cve-"
    r"|vulnerab|brute|banned|blocked|rate.?limit|suspicious|malicious|exploit|fortify"
    r"|insecure|unsafe|slow|latency|throttl|backlog|exhausted|deprecat",
    re.IGNORECASE,
)


def evidence_ceiling(line: str) -> Severity:
    """The highest severity the line's own words support.

    A level field (``INFO``, ``level=warn``, ``[error]``) in the line's first 60 characters
    decides: a line its own logger wrote at INFO shows no problem, whatever its message says.
    Without one: fatal words critical, failure words high, warning words medium, else low.
    """
    head = _LEVEL.search(line[:60])
    if head is not None:
        word = (head["w"] or head["v"] or "").lower()
        if word in _LEVELS:
            return _LEVELS[word]
    if _NONE.search(line):
        line = _NONE.sub("", line)
    if _CRITICAL_WORDS.search(line):
        return "critical"
    if _ERROR_WORDS.search(line) or _ERRNO.search(line):
        return "high"
    if _WARN_WORDS.search(line):
        return "medium"
    return "low"


def supports_kind(kind: str, line: str) -> bool:
    """Whether the line's words fit a finding of ``kind``: a security or performance word
    for those kinds, a failure (above ``low``) for an error; any line for an improvement."""
    pattern = _KIND_WORDS.get(kind)
    if pattern is not None:
        return bool(pattern.search(line))
    if kind == "error":
        return evidence_ceiling(line) != "low"
    return True


def _rank(severity: Severity) -> int:
    return SEVERITIES.index(severity)


@dataclass(slots=True)
class Template:
    """Lines of one statement the rules left unexplained (0-based indexes)."""

    key: str
    lines: list[int]
    ceiling: Severity
    signal: bool  # a failure, warning, security or performance word: worth a model's look

    @property
    def count(self) -> int:
        return len(self.lines)


@dataclass
class Digest:
    """What the model is shown of one log, and what it may cite."""

    text: str  # the digest as placed in the prompt's data block
    line_count: int
    shown: dict[int, str]  # 1-based line number -> the cleaned text the model saw
    listed: frozenset[int]  # 1-based line numbers named anywhere in the digest
    withheld: frozenset[int]  # 1-based lines addressed to an AI: never shown, never citable
    covered: frozenset[int]  # 0-based lines some rule finding covers
    templates: dict[int, Template] = field(default_factory=dict)  # by 0-based line
    candidates: int = 0  # templates with a signal the rules did not explain
    order: list[Template] = field(default_factory=list)  # the templates shown, in order
    rules: list[str] = field(default_factory=list)  # the rule findings' fingerprints

    @property
    def key(self) -> str:
        """What makes two digests the same request (the cache key's fingerprint): the rules'
        findings and the templates shown, not their values or line numbers, so that the next
        window of a stream failing the same way is answered from the cache."""
        parts = [
            *sorted(self.rules),
            "",
            *sorted(t.key for t in self.order),
            str(len(self.withheld)),
        ]
        return "digest:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]

    def template_of(self, line: int) -> Template | None:
        """The template of 0-based ``line`` if it was a candidate."""
        return self.templates.get(line)

    def anchor(self, line: int) -> tuple[str, int] | None:
        """1-based ``line`` as (its template's key, occurrence: 0 first, -1 last, else its
        index), or None if no template shown holds it: a citation that holds in another
        window of the same digest key."""
        t = self.templates.get(line - 1)
        if t is None:
            return None
        j = t.lines.index(line - 1)
        return t.key, -1 if j == t.count - 1 and j else j

    def place(self, key: str, j: int) -> int | None:
        """The 1-based line an :meth:`anchor` stands for in this digest (None if none)."""
        t = next((t for t in self.order if t.key == key), None)
        if t is None:
            return None
        return t.lines[j] + 1 if -t.count <= j < t.count else None


def _cut(text: str) -> str:
    text = _CONTROL.sub(" ", text)
    return text if len(text) <= _MAX_LINE_CHARS else text[: _MAX_LINE_CHARS - 1] + "…"


def _templates(lines: Sequence[str], skip: set[int], rare_max: int) -> list[Template]:
    by_key: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        if i not in skip and line.strip():
            by_key.setdefault(shape(line.strip(), ids=True), []).append(i)
    out: list[Template] = []
    for key, idx in by_key.items():
        first = lines[idx[0]]
        ceiling = evidence_ceiling(first)
        rare = len(idx) <= rare_max
        # a security or performance word only matters on a rare line: one the log repeats
        # throughout (a heartbeat's latency) is its routine
        signal = ceiling != "low" or (rare and bool(_SIGNAL_WORDS.search(first)))
        if signal or rare:
            out.append(Template(key, idx, ceiling, signal))
    # failures first, then the rarer, then in log order
    out.sort(key=lambda t: (not t.signal, -_rank(t.ceiling), t.count, t.lines[0]))
    return out


def _template_block(k: int, t: Template, shown: dict[int, str]) -> str:
    nums = ", ".join(str(n + 1) for n in t.lines[:_LINE_NUMBERS])
    more = " …" if t.count > _LINE_NUMBERS else ""
    head = f"T{k} x{t.count} lines {nums}{more}: {mask(next(iter(shown.values())))}"
    return "\n".join([head, *(f"  L{n}: {text}" for n, text in shown.items())])


def _rule_summary(findings: Sequence[Finding], clean: Callable[[str], str]) -> list[str]:
    out = []
    for f in findings:
        if f.key == AI_INSTRUCTION:
            continue
        nums = ", ".join(str(n + 1) for n in sorted(f.lines)[:_LINE_NUMBERS])
        more = " …" if len(f.lines) > _LINE_NUMBERS else ""
        out.append(f"- {f.kind} {f.severity}: {_cut(clean(f.title))} (lines {nums}{more})")
    return out


def build_digest(
    lines: Sequence[str],
    findings: Sequence[Finding],
    clean: Callable[[str], str],
    *,
    max_chars: int = 12_000,
    max_templates: int = 40,
) -> Digest:
    """The digest of a log's ``lines`` given the rules' ``findings``; ``clean`` masks secrets
    (it runs on every text shown). At most ``max_chars`` characters and ``max_templates``
    templates: the rule summary first, then templates in order of interest."""
    withheld = {n for f in findings if f.key == AI_INSTRUCTION for n in f.lines}
    covered = {n for f in findings if f.key != AI_INSTRUCTION for n in f.lines}
    rare_max = 2 if len(lines) >= 50 else len(lines)
    parts = [f"The log has {len(lines)} lines."]
    rules = _rule_summary(findings, clean)
    parts.append("Rule findings, already reported (do not report them again):")
    parts.extend(rules or ["- none"])
    parts.append("Lines no rule explained, by template (count, line numbers, examples):")
    used = sum(len(p) + 1 for p in parts)
    digest = Digest("", len(lines), {}, frozenset(), frozenset(n + 1 for n in withheld),
                    frozenset(covered))  # fmt: skip
    listed: set[int] = set()
    for k, t in enumerate(_templates(lines, withheld | covered, rare_max)[:max_templates]):
        shown = {n + 1: _cut(clean(lines[n])) for n in dict.fromkeys([t.lines[0], t.lines[-1]])}
        block = _template_block(k + 1, t, shown)
        if used + len(block) + 1 > max_chars:
            break
        parts.append(block)
        digest.shown.update(shown)
        used += len(block) + 1
        listed.update(n + 1 for n in t.lines[:_LINE_NUMBERS])
        digest.templates.update(dict.fromkeys(t.lines, t))
        digest.order.append(t)
        digest.candidates += t.signal
    if withheld:
        parts.append(f"Withheld (text addressed to an AI reviewer; never cite): lines "
                     f"{', '.join(str(n + 1) for n in sorted(withheld)[:_LINE_NUMBERS])}")  # fmt: skip
    digest.text = "\n".join(parts)
    digest.rules = [f.fingerprint for f in findings if f.key != AI_INSTRUCTION]
    digest.listed = frozenset(listed | set(digest.shown))
    return digest

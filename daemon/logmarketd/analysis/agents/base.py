"""What every detector shares: the log as a searchable text, the finding type, the agent type.

A detector is a function ``(ctx) -> list[Finding]``. It first asks the context for the lines
holding a keyword (``ctx.lines_with``: a ``str.find`` scan of the whole text, cached per
keyword, far cheaper than a regex per line) and runs its regexes only on those lines. On a
large log every keyword the detectors have asked for so far in this process is found in one
Aho-Corasick pass (``Context.prefetch``) instead of one scan each. Findings
carry every line they cover (``lines``) so that scoring and evaluation can tell signal from
noise; the published evidence is a few of those lines, redacted.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, compress, groupby, islice, repeat
from operator import itemgetter, sub
from typing import Literal

import ahocorasick_rs

from logmarketd.models import SOURCES
from logmarketd.transform.mining.masking import DISPLAY_PATTERNS, Masker, shape

__all__ = [
    "KIND_TO_FIELD",
    "MAX_FINDINGS",
    "MAX_LINE",
    "SEVERITY_RANK",
    "Agent",
    "AgentConfig",
    "Context",
    "Detector",
    "Finding",
    "Kind",
    "declare_keywords",
    "fingerprint",
    "mask",
    "percentile",
    "seen_again",
    "shape",
]

Kind = Literal["error", "performance", "security", "improvement"]
Sev = Literal["low", "medium", "high", "critical"]
Level = Literal["low", "medium", "high"]
SEVERITY_RANK: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}
# The ``AIInsights`` field each kind of finding is published in, in the seed's order.
KIND_TO_FIELD: dict[Kind, str] = {
    "error": "error_patterns",
    "performance": "performance_issues",
    "security": "security_concerns",
    "improvement": "improvement_opportunities",
}


@dataclass(frozen=True)
class AgentConfig:
    """Tunable thresholds and allowlists of the rule engine (defaults documented inline)."""

    # performance: a group is slow when its p95 (or max for one-offs) exceeds these (ms)
    http_ms: float = 1000.0
    sql_ms: float = 100.0
    test_ms: float = 1000.0
    build_step_ms: float = 120_000.0
    generic_ms: float = 5000.0  # a batch job taking seconds is normal; flag clear outliers only
    gc_pause_ms: float = 200.0
    # security
    brute_force_failures: int = 5
    enumeration_users: int = 3
    probe_4xx_burst: int = 10
    allow_addresses: frozenset[str] = frozenset()
    allow_secret_values: frozenset[str] = frozenset()
    # quality
    coverage_min_percent: float = 80.0
    # errors
    http_5xx_burst: int = 3


@dataclass(kw_only=True)
class Finding:
    """One insight, before it becomes a seed model (``LogAnalysis.ai_insights`` entry).

    ``agent_id`` is set by the agent that ran the detector (``Agent.run``): a detector does not
    know which agent it serves.
    """

    kind: Kind
    agent_id: str = ""
    title: str  # pattern / issue / threat / area
    severity: Sev
    key: str  # identity for the fingerprint: no timestamps, pids or ports in it
    lines: list[int]  # 0-based indexes of every line this finding covers
    location: str | None = None
    detail: str = ""  # impact / description / suggestion
    root_cause: str | None = None
    fix: str | None = None  # suggested fix / optimization / mitigation
    count: int = 1
    metric: str | None = None
    threshold: float | None = None
    actual: float | None = None
    estimate: str | None = None
    evidence_lines: list[int] = field(default_factory=list)
    summary: bool = False  # a cascade line (make Error 2, BUILD FAILURE): dropped if others
    generic: bool = False  # from a generic layer: joins a specific finding it stands beside
    secrets: list[str] = field(default_factory=list)  # values to mask in any published text
    effort: Level = "low"  # improvement opportunities only
    impact: Level = "medium"

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.agent_id, self.kind, self.key)


def fingerprint(agent_id: str, kind: str, key: str) -> str:
    """A stable id of a finding: the same problem in a resubmitted log gets the same id, and so
    does the same problem with other values (addresses, ids, numbers, times are masked in the
    key: a variant with its values redrawn is no new finding)."""
    return hashlib.sha256(f"{agent_id}\x1f{kind}\x1f{mask(key)}".encode()).hexdigest()[:24]


_DISPLAY = Masker(DISPLAY_PATTERNS, typed=True)


def mask(text: str) -> str:
    """A line's shown template: timestamps, ids, addresses and numbers replaced by typed
    placeholders (``<ts>``, ``<uuid>``, ``<hex>``, ``<ip>``, ``<n>``); group lines by
    ``shape(text, ids=True)``, show ``mask`` of one member."""
    return _DISPLAY.mask(text)


def seen_again(found: dict[str, Finding], key: str, lines: Sequence[int] = ()) -> bool:
    """Count one more occurrence into the finding ``key`` of ``found``, its ``lines`` added,
    when there is one already (True); False when ``key`` is new (nothing changed)."""
    same = found.get(key)
    if same is None:
        return False
    same.count += 1
    same.lines.extend(lines)
    return True


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile of already sorted values (p in 0..100)."""
    if not sorted_values:
        return 0.0
    rank = max(1, -(-len(sorted_values) * p // 100))
    return float(sorted_values[int(rank) - 1])


MAX_LINE = 4096  # characters of a line the detectors look at
MAX_FINDINGS = 100  # per agent and log: a report, not a copy of the log


ECHO_LINES = 3  # a generic line this close to a specific finding's line may be its echo
_NAME = re.compile(r"[\w.:/-]*[A-Za-z][\w:-]*[./_][\w./:-]*[\w]")  # a path, module, or dotted name


def _names(text: str) -> set[str]:
    return {m.group(0).strip(".:") for m in _NAME.finditer(text)}


def _fold_echoes(ctx: Context, found: list[Finding]) -> list[Finding]:
    """Fold each generic finding whose first line stands within ``ECHO_LINES`` of a line of a
    specific finding, and names a path or dotted name that finding's lines name, into that
    finding: one failure told twice ("ERROR job.py failed" under the traceback from job.py)
    is one finding. Two failures side by side (two paths an rsync could not read) stay two."""
    anchors = sorted((n, i) for i, f in enumerate(found) if not f.generic for n in f.lines)
    if not anchors or not any(f.generic for f in found):
        return found
    starts = [n for n, _ in anchors]
    out = []
    for f in found:
        first = min(f.lines) if f.lines else -1
        if f.generic and (host := _echoed(ctx, found, anchors, starts, first)) is not None:
            host.lines.extend(f.lines)
            continue
        out.append(f)
    return out


def _echoed(
    ctx: Context, found: list[Finding], anchors: list[tuple[int, int]], starts: list[int], n: int
) -> Finding | None:
    """The specific finding that line ``n`` echoes, or None."""
    names = _names(ctx.lines[n]) if 0 <= n < len(ctx.lines) else set()
    lo = bisect_right(starts, n - ECHO_LINES - 1)
    hi = bisect_right(starts, n + ECHO_LINES)
    for k in range(lo, hi):
        host = found[anchors[k][1]]
        if names & _names(ctx.lines[anchors[k][0]]):
            return host
    return None


class Context:
    """The analysed log: its text, its lines, and cached keyword scans."""

    def __init__(self, text: str, source: str, config: AgentConfig | None = None) -> None:
        self.text = text
        self.source = source
        self.config = config or AgentConfig()
        self.lines = text.split("\n")
        if self.lines and self.lines[-1] == "":
            self.lines.pop()
        lengths = list(map(len, self.lines))
        if lengths and max(lengths) > MAX_LINE:
            # detectors look at a line's head only: bounds regex work on pathological lines
            self.lines = [line[:MAX_LINE] for line in self.lines]
            self.text = "\n".join(self.lines) + "\n"
            lengths = list(map(len, self.lines))
        # offset of each line's start (+1 for its newline); accumulate runs in C
        self._starts = list(accumulate(map((1).__add__, lengths), initial=0))
        self._cache: dict[str, list[int]] = {}
        self._lower: str | None = None
        # lines already explained by a more specific finding of the running agent
        self.claimed: set[int] = set()
        # lines a finding of an agent that ran before reported (generic layers skip them)
        self.reported: set[int] = set()

    def folded(self) -> str | None:
        """The text lowercased (computed once), or None when lowering changes its length."""
        return self._folded() or None

    def _folded(self) -> str:
        """The text lowercased, or "" when lowering changes its length (offsets would drift:
        U+0130), in which case case-folded scans fall back to case variants."""
        if self._lower is None:
            lower = self.text.lower()
            self._lower = lower if len(lower) == len(self.text) else ""
        return self._lower

    def _scan(self, keyword: str, folded: bool = False) -> list[int]:
        cache_key = ("\x00" + keyword) if folded else keyword
        hit = self._cache.get(cache_key)
        if hit is not None:
            return hit
        _ASKED[cache_key] = None
        out: list[int] = []
        starts = self._starts
        last = len(starts) - 1
        find = (self._lower if folded and self._lower is not None else self.text).find
        i = find(keyword)
        while i >= 0:
            n = bisect_right(starts, i) - 1
            out.append(n)
            i = find(keyword, starts[n + 1]) if n + 1 < last else -1
        self._cache[cache_key] = out
        return out

    def line_start(self, n: int) -> int:
        """Offset in ``text`` of line ``n``'s first character."""
        return self._starts[n]

    def lines_any(self, cs: Sequence[str] = (), ci: Sequence[str] = ()) -> list[int]:
        """Lines holding any of ``cs`` (case-sensitive) or ``ci`` (lowercase, any case).

        Detectors share keywords where they can (a scan is cached): ``ci=("err",)`` serves the
        level detector, Python syntax errors and psql errors with one pass over the text.
        """
        if not ci:
            return self.lines_with(*cs)
        if not cs:
            return self.lines_with_ci(*ci)
        return sorted(set(self.lines_with(*cs)) | set(self.lines_with_ci(*ci)))

    def lines_with_ci(self, *keywords: str) -> list[int]:
        """Like ``lines_with`` for lowercase keywords, ignoring case: one scan per keyword."""
        if not self._folded() and self.text:
            variants = [v for k in keywords for v in dict.fromkeys((k, k.upper(), k.capitalize()))]
            return self.lines_with(*variants)
        found: set[int] = set()
        for k in keywords:
            found.update(self._scan(k, folded=True))
        return sorted(found)

    def lines_with(self, *keywords: str) -> list[int]:
        """Sorted indexes of the lines containing any of the keywords (case-sensitive)."""
        if len(keywords) == 1:
            return self._scan(keywords[0])
        found: set[int] = set()
        for k in keywords:
            found.update(self._scan(k))
        return sorted(found)

    def windows(self, keywords: Sequence[str]) -> list[tuple[int, int]]:
        """Sorted, disjoint (start, end) offsets of the text: each line holding one of the
        lowercase ``keywords`` (any case), with the line before and the line after it. What
        ``Redactor.find`` searches on a large text, from the scans the context has cached."""
        found = self.lines_with_ci(*keywords)
        if not found:
            return []
        # the windows of two lines n < m overlap exactly when m <= n + 2 (the line starts
        # rise strictly): a run of lines with gaps of at most 2 is one span
        gaps = map(sub, islice(found, 1, None), found)
        breaks = list(compress(range(1, len(found)), map((2).__lt__, gaps)))
        firsts = [found[0], *(found[i] for i in breaks)]
        lasts = [*(found[i - 1] for i in breaks), found[-1]]
        starts, last = self._starts, len(self._starts) - 1
        return [
            (starts[max(a - 1, 0)], starts[min(b + 2, last)] - 1)
            for a, b in zip(firsts, lasts, strict=True)
        ]

    def prefetch(self, keys: Iterable[str] | None = None) -> None:
        """Fill the scan cache, in one pass over the text, for ``keys`` (scan-cache keys: a
        keyword, or NUL + a lowercase keyword for a case-folded scan; default: every key any
        context of this process has scanned). Gives exactly what the scans would give.

        Two Aho-Corasick passes in fact, each over UTF-8 bytes (where the automaton runs
        several times faster than over str): the case-folded keys over the lowercased text,
        the case-sensitive ones over the text itself; a hit's line is found from the byte
        offsets of the line starts, and the hits are grouped per key in C (sort, groupby)."""
        if not self._folded():
            return
        wanted = tuple(
            k
            for k in (_ASKED if keys is None else keys)
            if k.strip("\x00") and k not in self._cache
        )
        if not wanted:
            return
        folded, exact = _automata(frozenset(wanted))
        for (automaton, slots), text in ((folded, self._lower), (exact, self.text)):
            if slots:
                self._cache.update(_lines_per_key(automaton, slots, text or ""))


def _lines_per_key(
    automaton: ahocorasick_rs.BytesAhoCorasick, slots: list[str], text: str
) -> dict[str, list[int]]:
    """For each key of ``slots`` (the automaton's patterns, in order): the sorted lines of
    ``text`` where one of its matches starts."""
    data = text.encode("utf-8", "surrogatepass")
    # byte offset of the start of line 1, 2, ...: bisect_right gives a byte's line directly
    after = list(accumulate(map((1).__add__, map(len, data.split(b"\n")))))
    hits = automaton.find_matches_as_indexes(data, overlapping=True)
    # in end order, so each pattern's hits are in text order; a stable sort keeps that
    hits.sort(key=_PATTERN)
    out: dict[str, list[int]] = {k: [] for k in slots}
    for pattern, group in groupby(hits, _PATTERN):
        lines = map(bisect_right, repeat(after), map(_START, group))
        out[slots[pattern]] = list(dict.fromkeys(lines))
    return out


_PATTERN, _START = itemgetter(0), itemgetter(1)


# Scan-cache keys asked for by any context in this process, in order: what ``prefetch`` finds.
_ASKED: dict[str, None] = {}


def declare_keywords(keywords: Iterable[str], folded: bool = False) -> None:
    """Keywords a detector will scan a large log for that an empty log does not show (they
    are asked for only when something else is found): prefetched with the others."""
    for keyword in keywords:
        _ASKED[("\x00" + keyword) if folded else keyword] = None


_Automaton = tuple[ahocorasick_rs.BytesAhoCorasick, list[str]]


@lru_cache(maxsize=8)
def _automata(keys: frozenset[str]) -> tuple[_Automaton, _Automaton]:
    """Automata over the UTF-8 keywords of ``keys``: the case-folded keys' (lowercase words,
    searched in the lowercased text) and the case-sensitive keys', each with its keys in
    pattern order (empty: no automaton needed)."""
    folded = sorted(k for k in keys if k[0] == "\x00")
    exact = sorted(k for k in keys if k[0] != "\x00")

    def build(words: list[str]) -> ahocorasick_rs.BytesAhoCorasick:
        data = [w.encode("utf-8", "surrogatepass") for w in words] or [b"\x00"]
        return ahocorasick_rs.BytesAhoCorasick(data, implementation=_DFA)

    return (build([k[1:] for k in folded]), folded), (build(exact), exact)


_DFA = ahocorasick_rs.Implementation.DFA


Detector = Callable[[Context], list[Finding]]


@dataclass(frozen=True)
class Agent:
    """One analysis agent: who it is, what it fills, when it runs, its detectors in order.

    ``expertise`` is its role in a sentence (shown to users and to a model). ``insight_field``
    is the ``AIInsights`` field its findings fill (one of ``KIND_TO_FIELD``'s values).
    ``setting`` names the ``Settings`` switch that turns it on or off (``ai_monitor_*``; None:
    always on). ``monitored_stages`` are the log sources it runs on.
    """

    id: str
    name: str
    expertise: str
    insight_field: str
    monitored_stages: tuple[str, ...]
    setting: str | None
    detectors: tuple[Detector, ...]

    def __post_init__(self) -> None:
        if self.insight_field not in KIND_TO_FIELD.values():
            raise ValueError(f"agent {self.id}: unknown insight field {self.insight_field!r}")
        unknown = set(self.monitored_stages) - set(SOURCES)
        if unknown:
            raise ValueError(f"agent {self.id}: unknown stages {sorted(unknown)}")

    def run(self, ctx: Context) -> list[Finding]:
        """Run every detector; drop cascade (summary) findings when a specific one exists;
        merge findings with the same identity; keep the ``MAX_FINDINGS`` most severe. Every
        finding is stamped with this agent's id.

        The lines a detector reported are claimed for the detectors after it in this agent
        (``ctx.claimed``, reset per agent): an earlier, more specific detector wins a line,
        and another agent still reads it with its own eyes."""
        found: list[Finding] = []
        ctx.claimed = set()
        for detect in self.detectors:
            got = detect(ctx)
            found.extend(got)
            for f in got:
                ctx.claimed.update(f.lines)
        specific = [f for f in found if not f.summary]
        if specific:
            found = specific
        found = _fold_echoes(ctx, found)
        merged: dict[str, Finding] = {}
        for f in found:
            f.agent_id = self.id
            same = merged.get(f.key)
            if same is None:
                merged[f.key] = f
            else:
                same.count += f.count
                same.lines.extend(f.lines)
        out = list(merged.values())
        if len(out) > MAX_FINDINGS:
            out.sort(key=lambda f: (-SEVERITY_RANK[f.severity], -f.count, min(f.lines or [0])))
            out = out[:MAX_FINDINGS]
        for f in out:
            ctx.reported.update(f.lines)
        return out

"""Durations in every common spelling, normalised to milliseconds at parse time, grouped per
template (an endpoint, a SQL statement shape, a test, a log message shape) with count, p50, p95
and max, and compared with a per-kind threshold (HTTP, SQL, test, build step, other).

Recognised: ``took 1234ms``, ``in 12.3s``, ``duration: 1234.567 ms`` (PostgreSQL),
``elapsed=1.2s``, ``latency_ms=87``, ``(1234 ms)`` (jest/mocha), ``--- PASS: T (2.31s)`` (go
test), ``1.30s call  t.py::test`` (pytest --durations), ``Time elapsed: 3.2 s`` (surefire),
``Run Time: real 6.597`` (sqlite), access logs with ``rt=``/``request_time=`` fields.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from logmarketd.analysis.agents.access import endpoint, requests
from logmarketd.analysis.agents.base import AgentConfig, Context, mask, shape

__all__ = ["Group", "Sample", "collect", "threshold_for", "to_ms"]

_UNIT_MS = {
    "ms": 1.0, "msec": 1.0, "millisecond": 1.0, "milliseconds": 1.0,
    "s": 1000.0, "sec": 1000.0, "secs": 1000.0, "second": 1000.0, "seconds": 1000.0,
    "us": 0.001, "µs": 0.001, "μs": 0.001, "microseconds": 0.001, "ns": 1e-6,
    "m": 60_000.0, "min": 60_000.0, "mins": 60_000.0, "minute": 60_000.0, "minutes": 60_000.0,
}  # fmt: skip


def to_ms(value: float, unit: str) -> float:
    """``value`` in ``unit`` (ms, s, us, min, ...) as milliseconds."""
    return value * _UNIT_MS[unit.lower()]


@dataclass
class Sample:
    index: int
    ms: float


@dataclass
class Group:
    kind: str  # http | sql | test | build | other
    template: str
    samples: list[Sample] = field(default_factory=list)


_SQL_WORDS = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|query|statement|sql|SQL)\b")
_PG = re.compile(
    r"duration: (\d+(?:\.\d+)?) ms\s+(?:statement|execute [^:]*|parse [^:]*|bind [^:]*): (.+)$"
)
_MYSQL = re.compile(r"# Query_time: (\d+(?:\.\d+)?)")
_SQLITE = re.compile(r"^Run Time: real (\d+(?:\.\d+)?)")
_PYTEST = re.compile(r"^\s*(\d+(?:\.\d+)?)s (call|setup|teardown)\s+(\S+)$")
_GOTEST = re.compile(r"^\s*--- (?:PASS|FAIL): (\S+) \((\d+(?:\.\d+)?)s\)")
_SUREFIRE = re.compile(r"Tests run: .*Time elapsed: (\d+(?:\.\d+)?) ?s.*?(?:in|-) ([\w.$]+)\s*$")
_JEST = re.compile(r"^\s*[✓✔√✕\u00d7] (.+?) \((\d+(?:\.\d+)?) ?(ms|s)\)\s*$")
# "took 1.2 s": a duration word, separators, a number and a unit. Found from the number (a
# digit is where re's scan can start) and the word before it, which is far cheaper than
# trying the word alternation at every word boundary; case variants spelled out: an
# IGNORECASE alternation is several times slower
_NUMBER_UNIT = re.compile(
    r"(\d+(?:\.\d+)?) ?(ms|msec|milliseconds?|s|secs?|seconds?|us|µs|μs|min|mins|minutes?)\b"
)
_WORD_BEFORE = re.compile(
    r"\b(?:[Tt]ook|TOOK|[Cc]ompleted in|[Ff]inished in|[Dd]one in|[Ee]xecuted in|[Ee]lapsed|ELAPSED|[Dd]uration|"
    r"DURATION|[Ll]atency|LATENCY|[Rr]esponse time|in|after)[\s:=]+$"
)
_BEFORE = 64  # characters before a number that the word and separators may take
_KV = re.compile(
    r"\b(\w*(?:time|duration|latency|elapsed|took)\w*)\"?\s*[=:]\s*\"?(\d+(?:\.\d+)?)(ms|s|us)?\b",
    re.I,
)
# _KV matches only on a line holding one of these in some case (or a non-ASCII line: re.I
# folds K to k); the scans of them are cached
_KV_WORDS = ("time", "duration", "latency", "elapsed", "took")
# key names that hold a duration (not eventTime=<epoch> or uptime=): explicit words or a unit suffix
_DURATION_KEY = re.compile(
    r"^(?:\w*(?:duration|latency|elapsed|took)\w*|\w*(?:_ms|Ms|_us|_sec|_secs|_seconds)|rt|rtt|"
    r"(?:response|request|req|resp|exec|execution|query|process|processing|load|render|wait|run|total|cpu|real|"
    r"service|handling|round_?trip|upstream_response|connect|ttfb)_?[Tt]ime(?:_?(?:ms|s|us))?)$",
    re.I,
)
_PREFIX = re.compile(
    r"^(?:\S+ )?\d{2,4}[-/.]\d{2}[-/.]\d{2,4}[ T]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?\s+"
    r"|^\[[^\]]*\d{2}:\d{2}:\d{2}[^\]]*\]\s*"
)
_LEVELS = re.compile(r"^(?:\[?(?:DEBUG|INFO|NOTICE|WARN|WARNING|TRACE)\]?:?\s+)")
_BUILD_WORDS = re.compile(
    r"\b(Compiling|Finished|Building|build|Step|stage|Total time|compile|bundle|webpack)\b"
)
_TEST_WORDS = re.compile(r"\b(test|Test|spec|PASS|passed)\b")

_TEST_KEYS = ("s call", "--- PASS", "Time elapsed", "ms)")
_KEYS = (  # any case: a unit or a duration word (the regexes decide)
    "ms", " sec", "took", "duration", "elapsed", "latency", "time", "finished in", "completed in", "done in",
)  # fmt: skip
# cheap second filter before the word regexes: a number with a unit, or key=number
_NUM_UNIT = re.compile(r"\d ?(?:ms|msec|s|sec|secs|seconds?|us|µs|min|mins|minutes?)\b|[=:] ?\"?\d")


def threshold_for(kind: str, cfg: AgentConfig) -> float:
    return {
        "http": cfg.http_ms,
        "sql": cfg.sql_ms,
        "test": cfg.test_ms,
        "build": cfg.build_step_ms,
    }.get(kind, cfg.generic_ms)


def _message(line: str) -> str:
    """The line without its timestamp and level: what stays the same between occurrences."""
    line = _PREFIX.sub("", line)
    return _LEVELS.sub("", line).strip()


# (kind, template, line, milliseconds, raw): records one duration sample
_Add = Callable[[str, str, int, float, bool], None]

# Test runners' and databases' own timing lines: (keywords, regex, match -> (kind, template, ms))
_TOOL_RULES: list[
    tuple[tuple[str, ...], re.Pattern[str], Callable[[re.Match[str]], tuple[str, str, float]]]
] = [
    (("ci:duration",), _PG, lambda m: ("sql", mask(m.group(2))[:200], float(m.group(1)))),
    (("Query_time",), _MYSQL, lambda m: ("sql", "MySQL slow query", float(m.group(1)) * 1000)),
    (("ci:time",), _SQLITE, lambda m: ("sql", "sqlite statement", float(m.group(1)) * 1000)),
    (
        ("s call", "s setup", "s teardown"),
        _PYTEST,
        lambda m: ("test", m.group(3), float(m.group(1)) * 1000),
    ),
    (
        ("--- PASS", "--- FAIL"),
        _GOTEST,
        lambda m: ("test", m.group(1), float(m.group(2)) * 1000),
    ),
    (("Time elapsed",), _SUREFIRE, lambda m: ("test", m.group(2), float(m.group(1)) * 1000)),
    (
        ("ms)", "s)"),
        _JEST,
        lambda m: ("test", m.group(1), to_ms(float(m.group(2)), m.group(3))),
    ),
]


def collect(ctx: Context) -> list[Group]:
    """Every duration of the log, grouped per (kind, template)."""
    groups: dict[tuple[str, str], Group] = {}
    used: set[int] = set()

    def add(kind: str, template: str, n: int, ms: float, raw: bool) -> None:
        # raw: group by the cheap shape and show the masked text of the first member
        k = (kind, shape(template, ids=True) if raw else template)
        g = groups.get(k)
        if g is None:
            g = groups[k] = Group(kind, mask(template)[:200] if raw else template)
        g.samples.append(Sample(n, ms))
        used.add(n)

    for r in requests(ctx):
        if r.seconds is not None:
            add("http", endpoint(r), r.index, r.seconds * 1000.0, False)
    _tool_timings(ctx, add, used)
    _generic_durations(ctx, add, used)
    return list(groups.values())


def _tool_timings(ctx: Context, add: _Add, used: set[int]) -> None:
    for keys, rx, conv in _TOOL_RULES:
        if keys[0] in _TEST_KEYS and ctx.source not in ("test", "build"):
            continue  # test runners' timings appear in CI logs only
        scan = (
            ctx.lines_with_ci(keys[0][3:]) if keys[0].startswith("ci:") else ctx.lines_with(*keys)
        )
        for n in scan:
            if n in used:
                continue
            m = rx.search(ctx.lines[n])
            if m:
                kind, tmpl, ms = conv(m)
                if rx is _MYSQL:  # the statement follows the "# ..." header lines
                    # (MariaDB writes more "# ..." lines than MySQL: up to five)
                    stmt = next((ctx.lines[k] for k in range(n + 1, min(n + 9, len(ctx.lines)))
                                 if not ctx.lines[k].startswith(("#", "SET timestamp", "use "))), "")  # fmt: skip
                    tmpl = mask(stmt.strip())[:200] or tmpl
                add(kind, tmpl, n, ms, False)


def _generic_durations(ctx: Context, add: _Add, used: set[int]) -> None:
    """Any "took 1.2 s" / "duration_ms=340" line, grouped by its message's shape."""
    keyed = set(ctx.lines_with_ci(*_KV_WORDS))
    for n in ctx.lines_with_ci(*_KEYS):
        if n in used:
            continue
        line = ctx.lines[n]
        if line.startswith("=") or line.startswith("Ran ") or not _NUM_UNIT.search(line):
            continue  # a test session's total time, not one operation; or no number at all
        value = _generic_value(line, n in keyed or not line.isascii())
        if value is None:
            continue
        msg = _message(line)
        kind = (
            "sql"
            if _SQL_WORDS.search(msg)
            else "build"
            if _BUILD_WORDS.search(msg)
            else "test"
            if _TEST_WORDS.search(msg)
            else "other"
        )
        if re.search(r"\b(GET|POST|PUT|DELETE|PATCH|HEAD) /", msg):
            kind = "http"
        add(kind, msg, n, value, True)


def word_duration(line: str) -> float | None:
    """The first "took 1.2 s" of the line (a duration word, separators, a number, a unit),
    in ms."""
    for m in _NUMBER_UNIT.finditer(line):
        start = m.start()
        before = line[start - 1] if start else ""
        if (before.isspace() or before in (":", "=")) and _WORD_BEFORE.search(
            line, max(0, start - _BEFORE), start
        ):
            return to_ms(float(m.group(1)), m.group(2))
    return None


def _generic_value(line: str, keyed: bool = True) -> float | None:
    """The duration a line reports, in ms: "took 1.2 s", or a duration key=value (looked for
    only when ``keyed``: the line holds one of ``_KV_WORDS``, or may match otherwise)."""
    worded = word_duration(line)
    if worded is not None:
        return worded
    k = _KV.search(line) if keyed else None
    if not (k and _DURATION_KEY.search(k.group(1))):
        return None
    name, unit = k.group(1).lower(), k.group(3)
    if unit is None:
        unit = (
            "us"
            if name.endswith("_us")
            else "s"
            if name.endswith(("_s", "_sec", "_secs", "_seconds"))
            else "ms"
        )
    return to_ms(float(k.group(2)), unit)

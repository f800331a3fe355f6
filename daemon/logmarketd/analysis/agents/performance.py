"""Performance Analyzer: slow endpoints, queries, tests and build steps (per template, with
p50/p95/max), memory exhaustion and GC pressure, timeouts and retry storms.
"""

from __future__ import annotations

import re
from collections import defaultdict
from itertools import pairwise

from logmarketd.analysis.agents import durations
from logmarketd.analysis.agents.base import Context, Finding, mask, percentile, seen_again, shape

__all__ = [
    "gc_pressure",
    "memory",
    "memory_growth",
    "slow_operations",
    "timeouts_retries",
]


_ADVICE = {
    "http": (
        "Profile the handler; cache or paginate, move slow work off the request path.",
        "{pct}% lower p95 latency",
    ),
    "sql": (
        "Run EXPLAIN ANALYZE; add an index for the filter/join columns or rewrite the subquery.",
        "{pct}% faster query",
    ),
    "test": (
        "Replace sleeps and real I/O with fakes; mark the test slow or parallelise.",
        "{pct}% faster test run",
    ),
    "build": ("Cache dependencies and build outputs; split the step.", "{pct}% faster build step"),
    "other": ("Profile this operation and remove the bottleneck.", "{pct}% less time"),
}
_NAMES = {
    "http": "slow endpoint",
    "sql": "slow query",
    "test": "slow test",
    "build": "slow build step",
    "other": "slow operation",
}


def slow_operations(ctx: Context) -> list[Finding]:
    """Durations per template against per-kind thresholds (p95 for 5+ runs, else max)."""
    out = []
    for g in durations.collect(ctx):
        values = sorted(s.ms for s in g.samples)
        limit = durations.threshold_for(g.kind, ctx.config)
        p50, p95, top = percentile(values, 50), percentile(values, 95), values[-1]
        # one slow outlier among many fast runs is noise; a slow p95 or a slow one-off is not
        actual = p95 if len(values) >= 5 else top
        if actual <= limit:
            continue
        ratio = actual / limit
        sev = "critical" if ratio >= 30 else "high" if ratio >= 5 else "medium"
        fix, est = _ADVICE[g.kind]
        pct = max(10, min(95, int(100 * (1 - limit / actual))))
        idx = [s.index for s in g.samples]
        slowest = max(g.samples, key=lambda s: s.ms).index
        out.append(
            Finding(
                kind="performance",
                title=f"{_NAMES[g.kind]}: {g.template} (p95 {p95:.0f} ms, max {top:.0f} ms, n={len(values)})",
                severity=sev, key=f"slow:{g.kind}:{g.template}", lines=idx, location=g.template,  # type: ignore[arg-type]
                detail=f"{len(values)} runs: p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {top:.1f} ms; threshold {limit:.0f} ms.",
                fix=fix, metric=f"{g.kind} duration p95 (ms)" if len(values) >= 5 else f"{g.kind} duration max (ms)",
                threshold=limit, actual=round(actual, 3), estimate=est.format(pct=pct), count=len(values),
                evidence_lines=[slowest, *[i for i in idx if i != slowest][:2]],
            )
        )  # fmt: skip
    return out


_MEM = [
    (
        re.compile(r"JavaScript heap out of memory"),
        "Node.js heap exhausted",
        "heap limit (--max-old-space-size)",
    ),
    (
        re.compile(r"java\.lang\.OutOfMemoryError: ?(.*)"),
        "JVM OutOfMemoryError: {0}",
        "JVM heap (-Xmx)",
    ),
    (re.compile(r"^MemoryError\b|\bMemoryError: "), "Python MemoryError", "process memory"),
    (
        re.compile(r"[Oo]ut of memory: Kill(?:ed)? process \d+ \(([^)]+)\)"),
        "OOM killer killed {0}",
        "host memory",
    ),
    (re.compile(r"\bOOMKilled\b|exit code 137\b"), "container OOMKilled", "container memory limit"),
    (
        re.compile(
            r"Cannot allocate memory|std::bad_alloc|runtime: out of memory|memory allocation of \d+ bytes failed"
        ),
        "allocation failed",
        "process memory",
    ),
]
# shared with the crash detector where possible: a scan is cached per keyword
_MEM_KEYS = (
    "ut of memory",
    "emoryError",
    "OOMKilled",
    "exit code 137",
    "allocate memory",
    "bad_alloc",
    "memory allocation of",
)


def memory(ctx: Context) -> list[Finding]:
    """Out-of-memory failures of the JVM, Node, Python, the kernel and containers."""
    out: dict[str, Finding] = {}
    for n in ctx.lines_any(cs=("bad_alloc", "exit code 137"), ci=("mem", "oom")):
        line = ctx.lines[n]
        for rx, fmt, metric in _MEM:
            m = rx.search(line)
            if not m:
                continue
            title = fmt.format(*m.groups()) if m.groups() else fmt
            key = f"mem:{mask(title)}"
            if not seen_again(out, key, [n]):
                out[key] = Finding(
                    kind="performance", title=f"memory exhausted: {title}", severity="critical", key=key,
                    lines=[n], location=metric, detail="The process ran out of memory and failed.",
                    fix="Find what grows without bound (heap profile); stream or batch the data; raise the limit only after.",
                    metric=metric, threshold=100.0, actual=100.0, estimate="no more out-of-memory crashes", evidence_lines=[n],
                )  # fmt: skip
            break
    return list(out.values())


_MEM_VALUE = re.compile(
    r"\b(rss|resident(?: set)?(?: size)?|mem(?:ory)?(?:[ _-]?(?:usage|used|use))?|heap(?:[ _-]?used)?|heapUsed)\b[\"']?"
    r"\s*[=:]?\s*(\d+(?:\.\d+)?)\s*(%|[KMGT]i?B\b|[kmg]b\b)",
    re.I,
)
_TO_MB = {"k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 1024.0 * 1024}


def memory_growth(ctx: Context) -> list[Finding]:
    """Memory figures per message shape: usage near the limit, or steady growth (a leak)."""
    series: dict[str, list[tuple[int, float, bool]]] = defaultdict(
        list
    )  # template -> (line, value, percent)
    for n in ctx.lines_with_ci("rss", "mem", "heap"):
        line = ctx.lines[n]
        m = _MEM_VALUE.search(line)
        if not m:
            continue
        unit = m.group(3)
        pct = unit == "%"
        value = float(m.group(2)) if pct else float(m.group(2)) * _TO_MB[unit[0].lower()]
        series[shape(durations._message(line), ids=True)].append((n, value, pct))
    out = []
    for pts in series.values():
        tmpl = mask(durations._message(ctx.lines[pts[0][0]]))[:160]
        values = [p[1] for p in pts]
        idx = [p[0] for p in pts]
        if pts[0][2]:
            top = max(values)
            if top < 90:
                continue
            title, metric, limit, actual = (
                f"memory usage at {top:g}%: {tmpl}",
                "memory usage (%)",
                90.0,
                top,
            )
        else:
            rising = sum(1 for a, b in pairwise(values) if b >= a)
            if len(values) < 5 or values[-1] < 2 * values[0] or rising < 0.8 * (len(values) - 1):
                continue
            title = f"memory grows {values[0]:g} MB -> {values[-1]:g} MB over {len(values)} samples (possible leak): {tmpl}"
            metric, limit, actual = "memory (MB)", values[0], values[-1]
        out.append(
            Finding(
                kind="performance", title=title, severity="high", key=f"memgrowth:{tmpl}", lines=idx,
                location=tmpl[:120], detail=f"{len(values)} samples from {values[0]:g} to {values[-1]:g}.",
                fix="Take two heap profiles some time apart and compare what grows; cap caches and queues.",
                metric=metric, threshold=limit, actual=actual, estimate="stable memory, no OOM kill",
                count=len(values), evidence_lines=[idx[0], idx[-1]],
            )
        )  # fmt: skip
    return out


_JVM_GC = re.compile(
    r"GC\(\d+\) (Pause [A-Za-z]+(?: \([^)]*\))*) (\d+)M->(\d+)M\((\d+)M\) (\d+(?:\.\d+)?)ms"
)
_V8_GC = re.compile(
    r"(Mark-Compact|Scavenge|Mark-sweep)(?: \([\w ]+\))? ([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB, ([\d.]+) / ([\d.]+) ms"
)
_GO_GC = re.compile(r"^gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock")


def gc_pressure(ctx: Context) -> list[Finding]:
    """GC pauses per collector kind: long pauses, or full collections that free nothing."""
    pauses: dict[str, list[tuple[int, float, float]]] = defaultdict(
        list
    )  # kind -> (line, ms, full%)
    for n in ctx.lines_with("GC(", "Mark-Compact", "Scavenge", "ms clock"):
        line = ctx.lines[n]
        if m := _JVM_GC.search(line):
            kind = "JVM " + m.group(1).split(" (")[0]
            after, cap = float(m.group(3)), float(m.group(4))
            pauses[kind].append((n, float(m.group(5)), 100.0 * after / cap if cap else 0.0))
        elif m := _V8_GC.search(line):
            after, cap = float(m.group(4)), float(m.group(5))
            pauses["V8 " + m.group(1)].append(
                (n, float(m.group(6)), 100.0 * after / cap if cap else 0.0)
            )
        elif m := _GO_GC.match(line):
            pauses["Go GC"].append((n, float(m.group(1)) + float(m.group(3)), 0.0))
    out = []
    for kind, ps in pauses.items():
        values = sorted(p[1] for p in ps)
        top, p95 = values[-1], percentile(values, 95)
        full = "Full" in kind or "Mark-Compact" in kind
        # repeated full collections that free nothing: the heap is exhausted, not a tuning issue
        exhausted = full and len(ps) >= 2 and sum(1 for p in ps if p[2] >= 90) >= 2
        if top <= ctx.config.gc_pause_ms and not exhausted:
            continue
        idx = [p[0] for p in ps]
        out.append(
            Finding(
                kind="performance",
                title=f"GC pressure: {len(ps)} x {kind} (max {top:.1f} ms)" + (", heap full after collection" if exhausted else ""),
                severity="high" if exhausted or top > 5 * ctx.config.gc_pause_ms else "medium", key=f"gc:{kind}",
                lines=idx, location=kind, detail=f"{len(ps)} pauses, p95 {p95:.1f} ms, max {top:.1f} ms.",
                fix="Reduce allocation / retained memory (heap dump), then size the heap; consider a low-pause collector.",
                metric="GC pause (ms)", threshold=ctx.config.gc_pause_ms, actual=round(top, 3),
                estimate="fewer and shorter GC pauses", count=len(ps), evidence_lines=idx[-3:],
            )
        )  # fmt: skip
    return out


_TIMEOUT = re.compile(
    r"\btimed out\b|TimeoutError|TimeoutException|deadline exceeded|DEADLINE_EXCEEDED|ETIMEDOUT|Gateway Time-?out|"
    r"timeout (?:expired|exceeded|error|reached)|context deadline|operation timeout",
    re.I,
)
_RETRY = re.compile(
    r"\bretry(?:ing)?\b|\bretried\b|\battempt \d+ ?(?:/|of) ?\d+|\bbacking off\b|\bbackoff\b", re.I
)
_TR_WORDS = (
    "timed out",
    "timeout",
    "time-out",
    "timedout",
    "deadline",
    "retr",
    "attempt",
    "backing off",
    "backoff",
)


# _RETRY and _TIMEOUT match only on a line holding one of these words in some case (a
# non-ASCII line may match otherwise: re.I folds K and ſ to k and s): the lines they need not
# be tried on are found from the cached scans
_RETRY_WORDS = ("retr", "attempt", "backing off", "backoff")
_TIMEOUT_WORDS = ("timed out", "timeout", "time-out", "timedout", "deadline")


_TARGET = re.compile(r"\burl='(/[^'?]*)|\"[A-Z]{3,7} (/[^\s?\"]*)|: (/[\w./-]+)(?:\?\S*)?\s*$")


def _target(line: str) -> str | None:
    """The request path a retry or timeout line names (url='/x', "GET /x", a trailing ': /x')."""
    m = _TARGET.search(line)
    return next((g for g in m.groups() if g), None) if m else None


def timeouts_retries(ctx: Context) -> list[Finding]:
    """Timeouts and retry storms per message shape."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    retry, timeout = set(ctx.lines_with_ci(*_RETRY_WORDS)), set(ctx.lines_with_ci(*_TIMEOUT_WORDS))
    for n in ctx.lines_with_ci(*_TR_WORDS):
        line = ctx.lines[n]
        if (
            "=" in line
            and re.search(r"\b(timeout|retries|max_retries)\s*=\s*\d", line, re.I)
            and not _TIMEOUT.search(line.split("=", 1)[0])
        ):
            continue  # a configuration value, not an event
        other = not line.isascii()
        what = (
            "retry"
            if (n in retry or other) and _RETRY.search(line)
            else "timeout"
            if (n in timeout or other) and _TIMEOUT.search(line)
            else None
        )
        if what:
            # the operation: the request path the line names, else the line's shape (a client
            # logs one retry of /v1/health in two statements: one operation, one finding)
            target = _target(line)
            groups[(what, target or shape(durations._message(line), ids=True))].append(n)
    out = []
    for (what, op), idx in groups.items():
        tmpl = mask(durations._message(ctx.lines[idx[0]]))
        tmpl = re.sub(r"attempt <n> ?(?:/|of) ?<n>", "attempt <n>/<n>", tmpl)[:200]
        if what == "retry" and len(idx) < 2:
            continue
        timeout_too = what == "retry" and bool(_TIMEOUT.search(ctx.lines[idx[0]]))
        of = f" of {op}" if op.startswith("/") else ""
        title = (
            f"{len(idx)} retries{of}: {tmpl}"
            if what == "retry"
            else f"{len(idx)} timeout(s){of}: {tmpl}"
        )
        out.append(
            Finding(
                kind="performance", title=title,
                severity="high" if len(idx) >= 10 or timeout_too else "medium", key=f"{what}:{tmpl}", lines=idx,
                location=tmpl[:120], detail=f"{len(idx)} {what} events for the same operation.",
                fix="Find why the dependency is slow or unreachable; bound retries with backoff and a circuit breaker."
                if what == "retry" else "Find the slow dependency; set explicit timeouts and alert on them.",
                metric=f"{what} count", threshold=1.0, actual=float(len(idx)),
                estimate="fewer failed calls and less wasted waiting", count=len(idx), evidence_lines=idx[:3],
            )
        )  # fmt: skip
    return out

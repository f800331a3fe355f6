"""A profiler's report printed into the log: the hot spot it measured is a performance finding.

Read: ``strace -c`` (share of system-call time per call), gprof's flat profile (share of time
per function), callgrind/cachegrind annotations (share of instructions per function, the
program's own deepest hot function) and Python's cProfile/pstats tables (time per function).
One finding per report: its hottest entry of the program's own, when it holds at least
``HOT_SHARE`` of the measured total (cProfile: of the total time). And ``python -X
importtime``'s table: the module whose own import time is the largest share.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding, shape

__all__ = ["profile_hot_spots", "repeated_queries"]

HOT_SHARE = 30.0  # percent of a profile's total that makes its top entry a hot spot

_STRACE_HEAD = re.compile(r"^% time\s+seconds\s+usecs/call\s+calls\s+errors\s+syscall\s*$")
_STRACE_ROW = re.compile(r"^\s*(\d+\.\d+)\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)\s*$")
_GPROF_HEAD = re.compile(r"^\s*%\s+cumulative\s+self\s+")
_GPROF_ROW = re.compile(
    r"^\s*(\d+\.\d+)\s+[\d.]+\s+[\d.]+\s+(?:(\d+)\s+[\d.]+\s+[\d.]+\s+)?(\S.*?)\s*$"
)
_GRIND_HEAD = re.compile(r"^(?:Ir|I\s+refs|Dr|Dw)\b.*\bfile:function\s*$")
_GRIND_ROW = re.compile(
    r"^\s*[\d,]+ \(\s*(\d+(?:\.\d+)?)%\)\s+(?P<file>[^:\s]+):(?P<fn>\S.*?)(?: \[(?P<obj>[^\]]+)\])?\s*$"
)
_PSTATS_HEAD = re.compile(
    r"^\s*ncalls\s+tottime\s+percall\s+cumtime\s+percall\s+filename:lineno\(function\)"
)
_PSTATS_ROW = re.compile(
    r"^\s*(?P<calls>[\d/]+)\s+(?P<tot>\d+\.\d+)\s+[\d.]+\s+(?P<cum>\d+\.\d+)\s+[\d.]+\s+(?P<where>\S+:\d+)\((?P<fn>[^)]+)\)\s*$"
)
_PSTATS_TOTAL = re.compile(r"function calls.*? in (\d+(?:\.\d+)?) seconds")
# a program's scaffolding and the C library: never its hot spot
_NOT_OURS = re.compile(
    r"^(?:main|\(below main\)|_start|__libc_start\w*|0x[0-9a-f]+|<\w+>|\{built-in.*)$"
)
_SYSTEM_FILE = ("???", "./", "/usr/", "../sysdeps", "<frozen", "{built-in")


def _rows(
    ctx: Context, start: int, row: re.Pattern[str], limit: int = 60
) -> list[tuple[int, re.Match[str]]]:
    """The rows ``row`` matches in the table whose header is line ``start`` (separator lines
    and blank lines skipped, until a line that is neither)."""
    out = []
    for k in range(start + 1, min(len(ctx.lines), start + 1 + limit)):
        line = ctx.lines[k]
        if m := row.match(line):
            out.append((k, m))
        elif line.strip() and not set(line.strip()) <= set("-= "):
            break
    return out


def _finding(what: str, share: float, lines: list[int], tool: str, detail: str) -> Finding:
    return Finding(
        kind="performance", title=f"hot spot: {what} ({share:g}% of {tool})", severity="high" if share >= 60 else "medium",
        key=f"profile:{tool}:{what}", lines=lines, location=what, detail=detail,
        fix=f"Make {what} cheaper or call it less (batch, cache, or pick a better algorithm); measure again.",
        metric=f"share of {tool} (%)", threshold=HOT_SHARE, actual=share, evidence_lines=lines[:2],
    )  # fmt: skip


def _strace(ctx: Context, n: int) -> Finding | None:
    rows = _rows(ctx, n, _STRACE_ROW)
    if not rows or (share := float(rows[0][1].group(1))) < HOT_SHARE:
        return None
    k, m = rows[0]
    return _finding(m.group(3), share, [n, k], "system-call time",
                    f"strace -c: {m.group(3)} takes {share:g}% of the system-call time in {m.group(2)} calls.")  # fmt: skip


def _gprof(ctx: Context, n: int) -> Finding | None:
    rows = [(k, m) for k, m in _rows(ctx, n + 1, _GPROF_ROW) if not _NOT_OURS.match(m.group(3))]
    if not rows or (share := float(rows[0][1].group(1))) < HOT_SHARE:
        return None
    k, m = rows[0]
    calls = f" in {m.group(2)} calls" if m.group(2) else ""
    return _finding(
        m.group(3),
        share,
        [n, k],
        "run time",
        f"gprof: {m.group(3)} takes {share:g}% of the time{calls}.",
    )


def _grind(ctx: Context, n: int) -> Finding | None:
    own = [
        (k, m) for k, m in _rows(ctx, n, _GRIND_ROW)
        if not _NOT_OURS.match(m.group("fn")) and not m.group("file").startswith(_SYSTEM_FILE)
    ]  # fmt: skip
    if not own or (share := float(own[0][1].group(1))) < HOT_SHARE:
        return None
    k, m = own[0]
    where = f"{m.group('file')}:{m.group('fn')}"
    return _finding(m.group("fn"), share, [n, k], "instructions",
                    f"callgrind: {where} and what it calls run {share:g}% of the program's instructions.")  # fmt: skip


def _pstats(ctx: Context, n: int) -> Finding | None:
    total = next(
        (float(t.group(1)) for k in range(max(0, n - 6), n) if (t := _PSTATS_TOTAL.search(ctx.lines[k]))),
        None,
    )  # fmt: skip
    rows = [
        (k, m)
        for k, m in _rows(ctx, n, _PSTATS_ROW)
        if not m.group("where").startswith(_SYSTEM_FILE)
    ]
    if not rows or not total:
        return None
    k, m = max(rows, key=lambda r: float(r[1].group("tot")))
    share = round(100 * float(m.group("tot")) / total, 1)
    if share < HOT_SHARE:
        return None
    return _finding(m.group("fn"), share, [n, k], "run time",
                    f"cProfile: {m.group('where')}({m.group('fn')}) spends {m.group('tot')} s of {total:g} s "
                    f"in its own code over {m.group('calls')} calls.")  # fmt: skip


_IMPORT_HEAD = re.compile(r"^import time: self \[us\] \| cumulative \| imported package\s*$")
_IMPORT_ROW = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \| (\s*)(\S+)\s*$")


def _importtime(ctx: Context, n: int) -> Finding | None:
    """python -X importtime: the module whose own import time is the largest share."""
    rows = []  # its rows follow the header, one per line
    for k in range(n + 1, min(len(ctx.lines), n + 20_000)):
        if (m := _IMPORT_ROW.match(ctx.lines[k])) is None:
            break
        rows.append((k, m))
    total = sum(int(m.group(1)) for _, m in rows)
    if not rows or not total:
        return None
    k, m = max(rows, key=lambda r: int(r[1].group(1)))
    share = round(100 * int(m.group(1)) / total, 1)
    if share < HOT_SHARE:
        return None
    return _finding(m.group(4), share, [n, k], "import time",
                    f"python -X importtime: importing {m.group(4)} takes {int(m.group(1)) / 1000:g} ms of its own, "
                    f"{share:g}% of all {total / 1000:g} ms of imports.")  # fmt: skip


# valgrind's massif through ms_print: a snapshot's heap tree, "->99.18% (8,388,608B) 0x1091F2:
# load_index (buffers.c:3)"; tracemalloc's statistics, "report.py:7: size=5703 KiB, count=60001"
_MASSIF_ROW = re.compile(
    r"^[|\s]*->(\d+\.\d+)% \(([\d,]+)B\) 0x[0-9A-Fa-f]+: (?P<fn>[\w:~<>]+) \((?P<loc>[^)]+)\)\s*$"
)
_ALLOCATORS = re.compile(
    r"^(?:main|malloc|calloc|realloc|operator new(?:\[\])?|__\w+|_Z\w+|g_\w*alloc\w*)$"
)
_TRACEMALLOC_ROW = re.compile(
    r"^(?:#\d+: )?(?P<where>\S+:\d+): size=(?P<size>[\d.]+) (?P<unit>B|KiB|MiB|GiB)\b"
)
_UNIT = {"B": 1, "KiB": 1024, "MiB": 1024**2, "GiB": 1024**3}
BIG_HEAP = 1024 * 1024  # bytes: a heap hot spot smaller than this is no finding


def _massif(ctx: Context, n: int) -> Finding | None:
    """The function holding the most heap in the ms_print trees below the snapshot table
    headed at ``n`` (not main, not the allocator)."""
    rows = [
        (k, m)
        for k in range(n + 1, min(len(ctx.lines), n + 400))
        if (m := _MASSIF_ROW.match(ctx.lines[k]))
    ]
    own = [(k, m) for k, m in rows if not _ALLOCATORS.match(m.group("fn"))]
    if not own:
        return None
    k, m = max(own, key=lambda r: int(r[1].group(2).replace(",", "")))
    size = int(m.group(2).replace(",", ""))
    if size < BIG_HEAP:
        return None
    f = _finding(m.group("fn"), float(m.group(1)), [k], "heap",
                 f"massif: {m.group('fn')} ({m.group('loc')}) holds {size / 1024 / 1024:.1f} MiB, {m.group(1)}% of the heap.")  # fmt: skip
    f.location = f"{m.group('fn')} ({m.group('loc')})"
    return f


def _tracemalloc(ctx: Context, n: int) -> Finding | None:
    """tracemalloc's top line, when it allocated a megabyte or more and most of what is listed."""
    rows = [
        (k, m)
        for k in range(n + 1, min(len(ctx.lines), n + 40))
        if (m := _TRACEMALLOC_ROW.match(ctx.lines[k]))
    ]
    if not rows:
        return None
    sizes = [float(m.group("size")) * _UNIT[m.group("unit")] for _, m in rows]
    top = max(sizes)
    k, m = rows[sizes.index(top)]
    share = round(100 * top / sum(sizes), 1)
    if top < BIG_HEAP or share < HOT_SHARE:
        return None
    return _finding(m.group("where"), share, [n, k], "traced memory",
                    f"tracemalloc: {m.group('where')} allocated {m.group('size')} {m.group('unit')}, {share:g}% of the top lines.")  # fmt: skip


_MASSIF_HEAD = re.compile(r"^\s*n\s+time\(\w+\)\s+total\(B\)\s+useful-heap\(B\)")
_TRACEMALLOC_HEAD = re.compile(
    r"^\[ Top \d+ (?:allocations|lines|differences)\b|^Top \d+ lines\s*$"
)
_READERS = (
    (_STRACE_HEAD, _strace), (_GPROF_HEAD, _gprof), (_GRIND_HEAD, _grind), (_PSTATS_HEAD, _pstats),
    (_IMPORT_HEAD, _importtime), (_MASSIF_HEAD, _massif), (_TRACEMALLOC_HEAD, _tracemalloc),
)  # fmt: skip


def profile_hot_spots(ctx: Context) -> list[Finding]:
    """The hot spot of each profiler report in the log (strace -c, gprof, callgrind, cProfile,
    importtime, massif, tracemalloc)."""
    out = []
    for n in ctx.lines_with(
        "% time", "cumulative", "file:function", "tottime", "useful-heap", "Top "
    ):
        for head, read in _READERS:
            if head.match(ctx.lines[n]) and (f := read(ctx, n)) is not None:
                out.append(f)
                break
    return _once(out)


def _once(found: list[Finding]) -> list[Finding]:
    """One finding per hot spot (ms_print repeats its table per snapshot)."""
    seen: dict[str, Finding] = {}
    for f in found:
        seen.setdefault(f.key, f)
    return list(seen.values())


# N+1 queries: one SQL statement shape looking rows up (a WHERE on a named table) run again and
# again, as an ORM's lazy loading does per row ("SELECT ... FROM order_lines WHERE ? =
# order_lines.order_id" x 50)
N_PLUS_ONE = 10  # runs of one statement shape that make it an N+1 pattern
_SQL = re.compile(r"\b(SELECT|UPDATE|DELETE FROM|INSERT INTO)\b (.{0,400})")
_TABLE = re.compile(r"\b(?:FROM|JOIN|UPDATE|INTO)\s+[\"`]?([A-Za-z_][\w.]*)")
_COLUMN_TABLE = re.compile(r"^([A-Za-z_]\w*)\.\w+")


def repeated_queries(ctx: Context) -> list[Finding]:
    """SQL statement shapes run ``N_PLUS_ONE`` times or more: an N+1 query pattern each."""
    runs: dict[str, list[int]] = {}
    for n in ctx.lines_with("SELECT ", "UPDATE ", "DELETE FROM ", "INSERT INTO "):
        m = _SQL.search(ctx.lines[n])
        if m is not None:
            runs.setdefault(shape(m.group(0), ids=True), []).append(n)
    out = []
    for stmt, idx in runs.items():
        if len(idx) < N_PLUS_ONE:
            continue
        first = idx[0]
        around = " ".join(ctx.lines[first : first + 3])
        t = _TABLE.search(around[around.find(stmt[:6]) :]) or _COLUMN_TABLE.match(
            stmt.split(" ", 1)[-1]
        )
        table = t.group(1) if t else None
        if table is None or "WHERE" not in around:
            continue  # a health check ("SELECT 1") or a poll of a whole table: no per-row lookup
        what = f"on {table}"
        out.append(Finding(
            kind="performance", title=f"N+1 queries: the same {stmt.split(' ', 1)[0]} {what} ran {len(idx)} times",
            severity="high" if len(idx) >= 100 else "medium", key=f"n+1:{table}", lines=idx,
            location=table, detail=f"One statement shape ran {len(idx)} times with other parameters: {stmt[:160]}",
            fix="Load the rows in one query (a join, an IN list, or the ORM's eager loading: selectinload/joinedload).",
            metric="runs of one statement", threshold=float(N_PLUS_ONE), actual=float(len(idx)),
            count=len(idx), evidence_lines=idx[:3],
        ))  # fmt: skip
    return out

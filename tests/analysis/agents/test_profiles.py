"""Profiler reports and repeated queries in a log, through the real agents: the hot spot of
strace -c, gprof, callgrind and cProfile; an N+1 lookup, and not a health check."""

from __future__ import annotations

from logmarketd.analysis.agents import agents
from logmarketd.analysis.agents.base import Context, Finding


def perf(text: str) -> list[Finding]:
    ctx = Context(text, "runtime")
    return [f for a in agents() for f in a.run(ctx) if f.agent_id == "performance-analyzer"]


STRACE = """\
% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 69.13    0.002833           7       400           fsync
  7.10    0.000291           0       446        56 newfstatat
------ ----------- ----------- --------- --------- ----------------
100.00    0.004098           3      1700        88 total
"""
GPROF = """\
Flat profile:

Each sample counts as 0.01 seconds.
  %   cumulative   self              self     total
 time   seconds   seconds    calls  ms/call  ms/call  name
100.16      0.55     0.55      300     1.84     1.84  slow_sum
  0.00      0.55     0.00      300     0.00     0.00  fast
"""
CALLGRIND = """\
Ir                   file:function
--------------------------------------------------------------------------------
31,746,902 (100.0%)  ???:0x000000000001ab70 [/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2]
31,626,781 (99.62%)  ???:(below main) [dedupe]
31,624,223 (99.61%)  dedupe.c:main [dedupe]
29,955,135 (94.36%)  dedupe.c:seen_before [dedupe]
16,938,527 (53.35%)  ./string/../sysdeps/x86_64/multiarch/strcmp-avx2.S:__strcmp_avx2 [/usr/lib/libc.so.6]
"""
PSTATS = """\
         2 function calls in 0.016 seconds

   Ordered by: cumulative time

   ncalls  tottime  percall  cumtime  percall filename:lineno(function)
        1    0.016    0.016    0.016    0.016 report.py:2(build_rows)
        1    0.000    0.000    0.000    0.000 {method 'disable' of '_lsprof.Profiler' objects}
"""


def test_each_profilers_hot_spot_is_found() -> None:
    for text, hot in (
        (STRACE, "fsync"),
        (GPROF, "slow_sum"),
        (CALLGRIND, "seen_before"),
        (PSTATS, "build_rows"),
    ):
        (f,) = perf(text)
        assert f.title.startswith(f"hot spot: {hot} "), f.title
        assert f.actual is not None and f.actual >= 30


def test_a_flat_profile_is_no_hot_spot() -> None:
    flat = STRACE.replace(" 69.13 ", " 19.13 ")
    assert perf(flat) == []


def lookups(n: int, stmt: str) -> str:
    return "".join(
        f"2026-01-01 10:00:00,000 INFO sqlalchemy.engine.Engine {stmt}\n[cached] ({i},)\n"
        for i in range(n)
    )


def test_one_lookup_run_per_row_is_an_n_plus_one() -> None:
    (f,) = perf(
        lookups(40, "SELECT order_lines.id FROM order_lines WHERE ? = order_lines.order_id")
    )
    assert f.location == "order_lines" and f.count == 40


def test_a_health_check_or_a_few_lookups_are_not() -> None:
    assert perf(lookups(40, "SELECT 1")) == []
    assert (
        perf(lookups(9, "SELECT order_lines.id FROM order_lines WHERE ? = order_lines.order_id"))
        == []
    )


def test_python_importtime_names_the_module_that_imports_slowest() -> None:
    text = (
        "import time: self [us] | cumulative | imported package\n"
        "import time:       366 |        366 |   _io\n"
        "import time:    900556 |     900556 |   reportsvc.currency\n"
        "import time:       505 |     906751 | reportsvc.render\n"
    )
    (f,) = perf(text)
    assert f.title.startswith("hot spot: reportsvc.currency ")


MASSIF = """\
--------------------------------------------------------------------------------
  n        time(i)         total(B)   useful-heap(B) extra-heap(B)    stacks(B)
--------------------------------------------------------------------------------
 12      1,234,567        8,462,336        8,454,144         8,192            0
99.90% (8,454,144B) (heap allocation functions) malloc/new/new[], --alloc-fns, etc.
->99.18% (8,388,608B) 0x10916A: load_index (buffers.c:3)
| ->99.18% (8,388,608B) 0x1091F2: main (buffers.c:8)
"""
TRACEMALLOC = """\
[ Top 3 allocations by line ]
report.py:7: size=5703 KiB, count=60001
report.py:11: size=48.1 KiB, count=744
"""


def test_the_heap_hot_spot_of_massif_and_tracemalloc() -> None:
    (m,) = perf(MASSIF)
    assert m.title.startswith("hot spot: load_index ") and m.location == "load_index (buffers.c:3)"
    (t,) = perf(TRACEMALLOC)
    assert t.title.startswith("hot spot: report.py:7 ")
    assert perf(TRACEMALLOC.replace("5703 KiB", "57 KiB")) == []  # under a megabyte: no hot spot

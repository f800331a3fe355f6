"""One Aho-Corasick pass over a large log gives exactly what one scan per keyword gives, and
the whole engine finds the same on a large log with and without it."""

from __future__ import annotations

import subprocess
import sys

from hypothesis import given
from hypothesis import strategies as st
from logmarketd.analysis import agents as agents_pkg
from logmarketd.analysis.agents.base import Context
from logmarketd.analysis.analyse import inspect_log

from tests.bench.agents import mixed_log
from tests.conftest import REPO

# multi-byte characters too: the passes run over UTF-8, where "é" takes two bytes and the
# Kelvin sign (K, three bytes) lowercases to a one-byte "k"
KEYWORDS = ["err", "ERR", "Error", "time", "x", "a\nb", "ms ", "İ", "timeout", "é", "k", "ék"]
TEXT = st.lists(
    st.sampled_from(
        ["err", "ERROR", "Err", "time", "x", "a", "b", "\n", " ", "ms ", "İ", "z", "é", "\u212a"]
    ),
    max_size=60,
).map("".join)


def _keys() -> list[str]:
    return [*KEYWORDS, *("\x00" + k.lower() for k in KEYWORDS)]


@given(TEXT)
def test_prefetch_gives_what_the_scans_give(text: str) -> None:
    scanned, fetched = Context(text, "runtime"), Context(text, "runtime")
    fetched.prefetch(_keys())
    for key in _keys():
        folded = key.startswith("\x00")
        want = (
            scanned._scan(key.lstrip("\x00"), folded=folded)
            if scanned._folded() or not folded
            else None
        )
        if want is not None and key in fetched._cache:
            assert fetched._cache[key] == want, key


def test_a_large_log_finds_the_same_with_and_without_the_single_pass(monkeypatch) -> None:
    text = mixed_log(30_000)
    with_pass = inspect_log(text, "runtime").report()
    monkeypatch.setattr(agents_pkg, "PREFETCH_CHARS", 10**12)
    without = inspect_log(text, "runtime").report()
    assert len(with_pass.findings) > 20
    assert with_pass.findings == without.findings
    assert with_pass.explanation == without.explanation
    assert with_pass.analysis.ai_insights == without.analysis.ai_insights


def _windows_reference(ctx: Context, keywords: tuple[str, ...]) -> list[tuple[int, int]]:
    """One window per line holding a keyword (the line before to the line after), merged
    while they overlap: what ``Context.windows`` gives, written as the plain loop."""
    starts, last = ctx._starts, len(ctx._starts) - 1
    spans: list[tuple[int, int]] = []
    for n in ctx.lines_with_ci(*keywords):
        start, end = starts[max(n - 1, 0)], starts[min(n + 2, last)] - 1
        if spans and start <= spans[-1][1]:
            spans[-1] = (spans[-1][0], end)
        else:
            spans.append((start, end))
    return spans


@given(TEXT)
def test_windows_are_the_merged_line_windows(text: str) -> None:
    ctx = Context(text, "runtime")
    for keywords in (("err",), ("err", "x", "ms "), ("z",), ("nowhere",)):
        assert ctx.windows(keywords) == _windows_reference(ctx, keywords)


_MISSES = """
import sys
from logmarketd.analysis.agents import base
from logmarketd.analysis.analyse import inspect_log
from tests.bench.agents import mixed_log
from tests.conftest import REPO

text = mixed_log(20_000)
scan, missed = base.Context._scan, set()
def counted(self, keyword, folded=False):
    if ((chr(0) + keyword) if folded else keyword) not in self._cache and len(self.text) > 10**6:
        missed.add(keyword)
    return scan(self, keyword, folded)
base.Context._scan = counted
for source in ("runtime", "build", "test", "deploy"):
    inspect_log(text, source).report()
print(sorted(missed))
"""


def test_a_large_log_is_scanned_only_through_the_prefetch() -> None:
    """In a fresh process (the keywords asked so far are per process), the first large log
    of every source finds every keyword it is scanned for in the prefetch's cache: a scan
    asked only under a condition the empty log never meets must be declared."""
    out = subprocess.run(
        [sys.executable, "-c", _MISSES], cwd=REPO, capture_output=True, text=True, check=True,
        timeout=300,
    )  # fmt: skip
    assert out.stdout.strip() == "[]"

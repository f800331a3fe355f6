"""A "took 1.2 s" duration is found from its number and the word before it; that reads the
same value as the one regex it replaced (kept here as the reference), on every line of the
corpus and on generated lines."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from logmarketd.analysis.agents.durations import to_ms, word_duration

from tests.bench.agents import _samples

REFERENCE = re.compile(
    r"\b([Tt]ook|TOOK|[Cc]ompleted in|[Ff]inished in|[Dd]one in|[Ee]xecuted in|[Ee]lapsed|ELAPSED|[Dd]uration|"
    r"DURATION|[Ll]atency|LATENCY|[Rr]esponse time|in|after)[\s:=]+(\d+(?:\.\d+)?) ?"
    r"(ms|msec|milliseconds?|s|secs?|seconds?|us|µs|μs|min|mins|minutes?)\b"
)


def _reference(line: str) -> float | None:
    m = REFERENCE.search(line)
    return to_ms(float(m.group(2)), m.group(3)) if m else None


def test_every_corpus_line_reads_the_same_duration() -> None:
    lines = [line for _, text in _samples() for line in text.splitlines()]
    assert sum(1 for line in lines if _reference(line) is not None) > 50
    assert [word_duration(line) for line in lines] == [_reference(line) for line in lines]


PARTS = ["took", "Took", "in", "after", "Completed in", "done in", "latency", "x", "5", "12.5",
         "10", " ", "  ", ":", "=", "ms", "s", "sec", "min", "minutes", "µs", "\t", "a", "-"]  # fmt: skip


@given(st.lists(st.sampled_from(PARTS), max_size=14).map("".join))
def test_generated_lines_read_the_same_duration(line: str) -> None:
    assert word_duration(line) == _reference(line)

"""The detectors try some costly regexes only on the lines the cached keyword scans show
holding one of a few words: each regex can match only where one of its words is (or, for an
IGNORECASE one, on a non-ASCII line, where re folds K and ſ to k and s). Checked on every
corpus line and on generated lines; a new alternative without its word fails here."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from logmarketd.analysis.agents import durations, errors, performance

from tests.bench.agents import _samples


def _level_gate(line: str) -> bool:
    return any(w in line for w in errors._LEVEL_WORDS) or line.startswith(errors._LEVEL_HEADS)


def _folded_gate(words: tuple[str, ...]):
    return lambda line: not line.isascii() or any(w in line.lower() for w in words)


GATES: list[tuple[str, re.Pattern[str], object]] = [
    ("level", errors._LEVEL, _level_gate),
    ("retry", performance._RETRY, _folded_gate(performance._RETRY_WORDS)),
    ("timeout", performance._TIMEOUT, _folded_gate(performance._TIMEOUT_WORDS)),
    ("duration key", durations._KV, _folded_gate(durations._KV_WORDS)),
]


def _check(line: str) -> None:
    for name, regex, gate in GATES:
        if regex.search(line):
            assert gate(line), (name, line)  # type: ignore[operator]


def test_every_corpus_line_that_a_gated_regex_matches_passes_its_gate() -> None:
    lines = [line for _, text in _samples() for line in text.splitlines()]
    matched = {name: sum(1 for line in lines if rx.search(line)) for name, rx, _ in GATES}
    assert min(matched.values()) > 5, matched
    for line in lines:
        _check(line)


PARTS = ["ERROR", "error", "Error: ", "fatal", "[crit]", 'level="error"', "level=fatal", '"level": "critical"',
         "CRITICAL", "ERR", " ", ": ", "[", "]", "retry", "Retrying", "attempt 2/5", "backoff", "timed out",
         "TimeoutError", "ETIMEDOUT", "deadline exceeded", "Gateway Time-out", "took_ms=", "latency: 5",
         "duration=", "elapsed", "12", "ms", "\u212a", "\u017f", "\u0130", "x", "="]  # fmt: skip


@given(st.lists(st.sampled_from(PARTS), max_size=10).map("".join))
def test_generated_lines_that_a_gated_regex_matches_pass_its_gate(line: str) -> None:
    _check(line)

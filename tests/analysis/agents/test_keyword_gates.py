"""The detectors try some costly regexes only on the lines the cached keyword scans show
holding one of a few words: each regex can match only where one of its words is (or, for an
IGNORECASE one, on a non-ASCII line, where re folds K and ſ to k and s). Checked on every
corpus line and on generated lines; a new alternative without its word fails here."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from logmarketd.analysis.agents import durations, errors, performance, quality, scripting

from tests.bench.agents import _samples


def _level_gate(line: str) -> bool:
    return any(w in line for w in errors._LEVEL_WORDS) or line.startswith(errors._LEVEL_HEADS)


def _folded_gate(words: tuple[str, ...]) -> Callable[[str], bool]:
    return lambda line: not line.isascii() or any(w in line.lower() for w in words)


def _path_gate(line: str) -> bool:
    return quality._PATH_LINE_COL.match(line) is not None


GATES: list[tuple[str, Callable[[str], object], Callable[[str], bool]]] = [
    ("level", errors._LEVEL.search, _level_gate),
    ("retry", performance._RETRY.search, _folded_gate(performance._RETRY_WORDS)),
    ("timeout", performance._TIMEOUT.search, _folded_gate(performance._TIMEOUT_WORDS)),
    ("duration key", durations._KV.search, _folded_gate(durations._KV_WORDS)),
    ("golint", quality.GOLINT.match, _path_gate),
    ("pylint", quality._PYLINT.match, _path_gate),
    ("flake8", quality._FLAKE.match, _path_gate),
    ("skipped", quality._SKIP.search, quality._may_skip),
    ("flaky", quality._FLAKY.search, quality._may_flake),
    ("skip count", quality._SUMMARY.search, quality._may_count),
    ("php", scripting._PHP.search, lambda line: ".php" in line),
]


def _check(line: str) -> None:
    for name, matches, gate in GATES:
        if matches(line):
            assert gate(line), (name, line)


def test_every_corpus_line_that_a_gated_regex_matches_passes_its_gate() -> None:
    lines = [line for _, text in _samples() for line in text.splitlines()]
    matched = {name: sum(1 for line in lines if m(line)) for name, m, _ in GATES}
    assert sum(matched.values()) > 100, matched  # golint, flake8, flaky: generated lines only
    for line in lines:
        _check(line)


PARTS = ["ERROR", "error", "Error: ", "fatal", "[crit]", 'level="error"', "level=fatal", '"level": "critical"',
         "CRITICAL", "ERR", " ", ": ", "[", "]", "retry", "Retrying", "attempt 2/5", "backoff", "timed out",
         "TimeoutError", "ETIMEDOUT", "deadline exceeded", "Gateway Time-out", "took_ms=", "latency: 5",
         "duration=", "elapsed", "12", "ms", "\u212a", "\u017f", "\u0130", "x", "=", "a.py:3:1: ", "E501 ",
         "W0612: ", "(unused)", "(errcheck)", "m.go:", "SKIPPED [1] ", "--- SKIP: ", " skipped", "3 xfailed",
         "Skipped: 2", "flaky", "FLAKY", "RERUN", "rerun failed", "Flakes:", "test t ... ignored", "'",
         "PHP Fatal error:  x", " in /a/b.php", " on line 3"]  # fmt: skip


@given(st.lists(st.sampled_from(PARTS), max_size=10).map("".join))
def test_generated_lines_that_a_gated_regex_matches_pass_its_gate(line: str) -> None:
    _check(line)

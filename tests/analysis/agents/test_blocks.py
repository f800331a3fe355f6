"""The shared block parser of the detectors: heads, where a block ends, claiming its lines."""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context
from logmarketd.analysis.agents.blocks import block_end, claim, heads

LOG = "\n".join(
    [
        "FAIL: test_a (mod.T)",  # 0
        "  frame a",  # 1
        "  frame b",  # 2
        "",  # 3
        "  FAIL: indented (mod.T)",  # 4
        "FAIL: test_b (mod.T)",  # 5
        "  frame c",  # 6
    ]
)
HEAD = re.compile(r"^FAIL: (\w+)")


def test_heads_are_the_keyword_lines_the_regex_matches_at_their_start() -> None:
    ctx = Context(LOG, "test")
    assert [(n, m.group(1)) for n, m in heads(ctx, HEAD, "FAIL: ")] == [
        (0, "test_a"),
        (5, "test_b"),
    ]


def test_heads_may_match_the_stripped_line() -> None:
    ctx = Context(LOG, "test")
    found = [n for n, _ in heads(ctx, HEAD, "FAIL: ", strip=True)]
    assert found == [0, 4, 5]


def test_a_block_ends_at_the_first_line_that_ends_it() -> None:
    lines = LOG.split("\n")
    assert block_end(lines, 1, lambda line: not line.strip()) == 3


def test_a_block_ends_at_its_limit_or_at_the_end_of_the_log() -> None:
    lines = LOG.split("\n")
    assert block_end(lines, 1, lambda line: False, limit=3) == 3
    assert block_end(lines, 6, lambda line: False) == 7
    assert block_end(lines, 6, lambda line: False, limit=100) == 7


def test_a_block_is_empty_when_it_starts_past_its_limit_or_the_log() -> None:
    lines = LOG.split("\n")
    assert block_end(lines, 7, lambda line: False) == 7
    assert block_end(lines, 5, lambda line: False, limit=2) == 5
    assert block_end(lines, 1, lambda line: True) == 1


def test_claim_marks_the_lines_as_explained() -> None:
    ctx = Context(LOG, "test")
    assert claim(ctx, 0, 3) == [0, 1, 2]
    assert ctx.claimed == {0, 1, 2}

"""Blocks of a log: a head line a regex recognises and the lines after it that belong to it.

A failed test's report, an uncaught exception's frames: a detector finds the head
(``heads``), asks where the block ends (``block_end``), reads what it needs from the lines in
between and claims them (``claim``) so that the later, more generic detectors do not report
the same lines again.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from logmarketd.analysis.agents.base import Context

__all__ = ["block_end", "claim", "heads"]


def heads(
    ctx: Context, head: re.Pattern[str], *keywords: str, strip: bool = False
) -> list[tuple[int, re.Match[str]]]:
    """(index, match) of each line holding one of ``keywords`` that ``head`` matches at its
    start (the line stripped first when ``strip``), in the log's order."""
    out: list[tuple[int, re.Match[str]]] = []
    for n in ctx.lines_with(*keywords):
        m = head.match(ctx.lines[n].strip() if strip else ctx.lines[n])
        if m:
            out.append((n, m))
    return out


def block_end(
    lines: Sequence[str], first: int, ends: Callable[[str], object], limit: int | None = None
) -> int:
    """The index just past a block whose lines start at ``first``: the first line from ``first``
    on for which ``ends(line)`` is true, else ``limit`` (an index the block never reaches),
    else the end of the log; ``first`` when it is past either."""
    stop = len(lines) if limit is None else min(limit, len(lines))
    j = first
    while j < stop and not ends(lines[j]):
        j += 1
    return j


def claim(ctx: Context, start: int, end: int) -> list[int]:
    """The indexes ``start`` to ``end`` (excluded), marked as explained by this finding."""
    lines = list(range(start, end))
    ctx.claimed.update(lines)
    return lines

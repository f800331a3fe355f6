"""Failed tests of runners without a detector of their own, from the shapes test reports share:

- a numbered failure block: ``  1) Failure:`` / ``  2) Error:`` then the test's name, with
  its ``[file:line]`` (minitest, test-unit);
- a status line: a test's name, a run of dots and a failure status (``Test #2: name ....
  ***Failed``: CTest; ``name ... FAILED``), or a failure mark before the name (``[  FAILED  ]
  Suite.Name``: GoogleTest; ``✗ name``, ``FAIL: name``, ``FAILED name``).

One finding per failed test, named by the test, located at the first source position of its
block (the ``[file:line]`` of its head, else the first ``file:line`` in the lines after it),
with the block's first message line as its cause. The runner's closing list of failed tests
names each again: those lines join the test's finding.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.blocks import claim
from logmarketd.analysis.agents.leveled import locate
from logmarketd.analysis.agents.testfail import _fail

__all__ = ["status_failures"]

_NUMBERED = re.compile(r"^\s*\d+\) (Failure|Error):?\s*$")
_NUMBERED_NAME = re.compile(r"^\s*(?P<name>[\w:.#/ -]+?)(?: \[(?P<loc>[^\]]+)\])?:\s*$")
_STATUS = re.compile(
    r"^\s*(?:\d+/\d+ )?Test\s+#\d+: (?P<ctest>\S+) \.+\s*\**(?:Failed|Exception|Timeout|SEGFAULT|Subprocess aborted)"
    r"|^\[\s+FAILED\s+\] (?P<gtest>[\w./:<>-]+)(?: \(\d+ ms\))?\s*$"
    r"|^\s*(?:[✗✘✕×]|FAIL:|FAILED) (?P<mark>[\w./:\[\]()<>#-]{3,120})\s*$"
    r"|^\s*(?P<dots>[\w./:\[\]#-]{3,120}) \.{2,} ?\**(?:FAILED|FAIL|ERROR|Failed)\b"
)
_STATUS_KEYS = ("Failed", "FAIL", "ERROR", "Exception", "Timeout", "SEGFAULT", "aborted", "✗",
                "✘", "✕", "×")  # fmt: skip
_RUNNERS = {
    "ctest": "CTest",
    "gtest": "GoogleTest",
    "mark": "test runner's",
    "dots": "test runner's",
}
# the runner's closing list: "  2 - roundtrip_utf8 (Failed)" (CTest)
_LISTED = re.compile(
    r"^\s+\d+ - (?P<name>\S+) \((?:Failed|Timeout|SEGFAULT|Exception|Not Run)\)\s*$"
)


_SUMMARY = re.compile(r"^\s*\d+ (?:runs|tests),|^\d+% tests passed|^Finished in ")


def _block(ctx: Context, n: int, limit: int, blank_ends: bool) -> tuple[int, str, str | None]:
    """End, first message line and first source position of the failure block after line n:
    up to the next head, the runner's summary, a blank line when ``blank_ends``, or ``limit``
    lines."""
    msg, loc = "", None
    j = n + 1
    stop = min(len(ctx.lines), n + 1 + limit)
    while j < stop:
        line = ctx.lines[j]
        s = line.strip()
        if (
            (blank_ends and not s)
            or _NUMBERED.match(line)
            or _STATUS.match(line)
            or _SUMMARY.match(line)
        ):
            break
        if s and not msg:
            msg = s
        if loc is None and s:
            loc = locate(s)
        j += 1
    return j, msg, loc


def _numbered(ctx: Context, out: dict[str, Finding]) -> None:
    for n in ctx.lines_with(") Failure", ") Error"):
        if n in ctx.claimed or not _NUMBERED.match(ctx.lines[n]) or n + 1 >= len(ctx.lines):
            continue
        head = _NUMBERED_NAME.match(ctx.lines[n + 1])
        if head is None:
            continue
        name = head.group("name").strip()
        j, msg, loc = _block(ctx, n + 1, 25, blank_ends=False)
        loc = locate(head.group("loc") or "") or loc
        lines = claim(ctx, n, j)
        out[name] = _fail(name, "minitest/test-unit", loc, msg, lines, lines[:4])


def _status(ctx: Context, out: dict[str, Finding]) -> None:
    for n in ctx.lines_with(*_STATUS_KEYS):
        if n in ctx.claimed:
            continue
        m = _STATUS.match(ctx.lines[n])
        if m is None:
            continue
        runner, name = next((_RUNNERS[k], v) for k, v in m.groupdict().items() if v)
        if name in out:
            out[name].lines.append(n)
            continue
        j, msg, loc = _block(ctx, n, 12, blank_ends=True)
        lines = claim(ctx, n, j)
        out[name] = _fail(name, runner, loc, msg, lines, lines[:4])


def status_failures(ctx: Context) -> list[Finding]:
    """Failed tests from numbered failure blocks and status lines, one finding per test."""
    out: dict[str, Finding] = {}
    _numbered(ctx, out)
    _status(ctx, out)
    for n in ctx.lines_with(" (Failed)", " (Timeout)", " (SEGFAULT)", " (Exception)", " (Not Run)"):
        m = _LISTED.match(ctx.lines[n])
        if m and m.group("name") in out:
            out[m.group("name")].lines.append(n)
            ctx.claimed.add(n)
    return list(out.values())

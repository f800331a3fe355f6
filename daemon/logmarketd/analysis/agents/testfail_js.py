"""Failed JavaScript tests: node --test (TAP), jest and mocha. One finding per failed test with
its name, the test file's line and the assertion message.
"""

from __future__ import annotations

import re
from functools import partial

from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.blocks import block_end, claim
from logmarketd.analysis.agents.testfail import _fail, _test_heads

__all__ = ["jest_failures", "mocha_failures", "node_tap_failures"]


_TAP_NOT_OK = re.compile(r"^(\s*)not ok \d+ - (.+?)(?: # .*)?$")
_STACK_FRAME = re.compile(r"\(?((?:file://)?/?[^\s()]+?\.[cm]?[jt]sx?):(\d+):(\d+)\)?")


def _tap_ends(indent: int, line: str) -> bool:
    """The ``...`` closing a YAML block, or a line no deeper than the head's ``indent``."""
    s = line.strip()
    return s == "..." or (len(line) - len(line.lstrip()) <= indent and s != "---")


def _tap_end(lines: list[str], n: int, indent: int) -> int:
    """End of the TAP failure headed at ``n``: past its YAML block's ``...`` line, or at the
    first line after the next one indented no deeper than the head."""
    j = n + 1
    if j < len(lines) and lines[j].strip() != "...":
        j = block_end(lines, n + 2, partial(_tap_ends, indent))
    if j < len(lines) and lines[j].strip() == "...":
        j += 1
    return j


def _tap_details(lines: list[str]) -> tuple[bool, list[str], str | None]:
    """Of a TAP failure's YAML block: whether it is a parent (its subtests failed), the
    error's message lines, the test's location (``location:`` or the first app frame)."""
    msg: list[str] = []
    loc, parent, mode = None, False, ""
    for s in (line.strip() for line in lines):
        if s == "...":
            break
        if "subtestsFailed" in s:
            parent = True
        if s.startswith("error:"):
            mode = "error"
            rest = s[6:].strip(" |-'\"")
            if rest:
                msg.append(rest)
        elif s.startswith("stack:"):
            mode = "stack"
        elif s.startswith("location:") and loc is None:
            loc = s.split(":", 1)[1].strip(" '\"")
        elif re.match(r"^\w+:", s):
            mode = ""
        elif mode == "error" and s and not s.startswith(("+", "-")) and len(msg) < 2:
            msg.append(s)
        elif mode == "stack":
            fm = _STACK_FRAME.search(s)
            if fm and "node:" not in s and "node_modules" not in s:
                loc = f"{fm.group(1)}:{fm.group(2)}:{fm.group(3)}"
                mode = "stack-done"
    return parent, msg, loc


def node_tap_failures(ctx: Context) -> list[Finding]:
    """node --test (TAP) failures: test name, assertion, first app stack frame."""
    out = []
    for n, m in _test_heads(ctx, _TAP_NOT_OK, "not ok "):
        j = _tap_end(ctx.lines, n, len(m.group(1)))
        parent, msg, loc = _tap_details(ctx.lines[n + 1 : j])
        if parent:
            continue
        lines = claim(ctx, n, j)
        runner = "node --test"
        if loc is None and (said := _test_more(ctx, n, m.group(2))) is not None:
            runner, loc, k = "TAP (Test::More)", said[0], said[1]
            lines += claim(ctx, k, k + 2)
        out.append(_fail(m.group(2), runner, loc, " ".join(msg), lines, lines[:5]))
    return out


# Test::More's diagnostics of a failed test, printed to stderr (so anywhere near its "not ok"):
# "#   Failed test 'name'" then "#   at t/file.t line 9."
_TM_AT = re.compile(r"^#\s+at (\S+) line (\d+)\.?$")


def _test_more(ctx: Context, n: int, name: str) -> tuple[str, int] | None:
    """(file:line, index of its "Failed test" line) of the Test::More diagnostics of the test
    ``name`` failed at line ``n``, looked for 40 lines around it."""
    said = f"Failed test '{name}'"
    for k in range(max(0, n - 40), min(len(ctx.lines) - 1, n + 40)):
        if said in ctx.lines[k] and (at := _TM_AT.match(ctx.lines[k + 1].strip())):
            return f"{at.group(1)}:{at.group(2)}", k
    return None


_JEST_HEAD = re.compile(r"^\s*● (.+)$")
_JEST_AT = re.compile(r"at .*?\(?((?:/|\.{0,2}/?)[^\s():]+\.[cm]?[jt]sx?):(\d+):(\d+)\)?")


def _message_and_frame(lines: list[str], skip: tuple[str, ...]) -> tuple[str, str | None]:
    """A JavaScript failure's first non-blank line and its first stack frame (file:line:col)
    on a line holding none of ``skip`` (the runtime's and the dependencies' frames)."""
    msg, loc = "", None
    for s in (line.strip() for line in lines):
        if s and not msg:
            msg = s
        am = _JEST_AT.search(s)
        if am and loc is None and not any(x in s for x in skip):
            loc = f"{am.group(1)}:{am.group(2)}:{am.group(3)}"
    return msg, loc


def jest_failures(ctx: Context) -> list[Finding]:
    """jest '●' failure blocks with the first app frame."""
    out = []
    for n, m in _test_heads(ctx, _JEST_HEAD, "● "):
        # a test outside any describe block has no separator in its name: require jest's summary
        if "\u203a" not in m.group(1) and not ctx.lines_with("Tests:"):
            continue
        j = block_end(ctx.lines, n + 1, _JEST_HEAD.match, limit=n + 80)
        msg, loc = _message_and_frame(ctx.lines[n + 1 : j], ("node_modules",))
        lines = claim(ctx, n, j)
        out.append(_fail(m.group(1).strip(), "jest", loc, msg, lines, [n, n + 2]))
    return out


_MOCHA_COUNT = re.compile(r"^\s+\d+ failing")
_MOCHA_HEAD = re.compile(r"^\s+(\d+)\) (.+?)$")


def mocha_failures(ctx: Context) -> list[Finding]:
    out = []
    for start, _ in _test_heads(ctx, _MOCHA_COUNT, " failing"):
        n = start + 1
        while n < len(ctx.lines):
            m = _MOCHA_HEAD.match(ctx.lines[n])
            if not m:
                if ctx.lines[n].strip() and not ctx.lines[n].startswith(" "):
                    break  # mocha's report ended
                n += 1
                continue
            title = [m.group(2).rstrip(":")]
            j = n + 1
            while j < len(ctx.lines) and ctx.lines[j].strip() and not m.group(2).endswith(":"):
                part = ctx.lines[j].strip()
                title.append(part.rstrip(":"))
                j += 1
                if part.endswith(":"):
                    break
            k = block_end(ctx.lines, j, _MOCHA_HEAD.match, limit=j + 40)
            msg, loc = _message_and_frame(ctx.lines[j:k], ("node_modules", "node:"))
            lines = claim(ctx, n, k)
            out.append(_fail(" ".join(title), "mocha", loc, msg, lines, [n, j]))
            n = k
    return out

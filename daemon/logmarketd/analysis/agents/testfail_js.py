"""Failed JavaScript tests: node --test (TAP), jest and mocha. One finding per failed test with
its name, the test file's line and the assertion message.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.testfail import _TEST_SOURCES, _fail

__all__ = ["jest_failures", "mocha_failures", "node_tap_failures"]


_TAP_NOT_OK = re.compile(r"^(\s*)not ok \d+ - (.+?)(?: # .*)?$")
_STACK_FRAME = re.compile(r"\(?((?:file://)?/?[^\s()]+?\.[cm]?[jt]sx?):(\d+):(\d+)\)?")


def node_tap_failures(ctx: Context) -> list[Finding]:
    """node --test (TAP) failures: test name, assertion, first app stack frame."""
    if ctx.source not in _TEST_SOURCES:
        return []
    out = []
    for n in ctx.lines_with("not ok "):
        m = _TAP_NOT_OK.match(ctx.lines[n])
        if not m:
            continue
        indent = len(m.group(1))
        j, msg, loc, block = n + 1, [], None, []
        parent = False
        mode = ""
        while j < len(ctx.lines):
            line = ctx.lines[j]
            s = line.strip()
            if s == "...":
                block.append(j)
                j += 1
                break
            if j > n + 1 and (len(line) - len(line.lstrip())) <= indent and s not in ("---",):
                break
            block.append(j)
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
            j += 1
        if parent:
            continue
        lines = [n, *block]
        ctx.claimed.update(lines)
        out.append(_fail(m.group(2), "node --test", loc, " ".join(msg), lines, [n, *block[:4]]))
    return out


_JEST_HEAD = re.compile(r"^\s*● (.+)$")
_JEST_AT = re.compile(r"at .*?\(?((?:/|\.{0,2}/?)[^\s():]+\.[cm]?[jt]sx?):(\d+):(\d+)\)?")


def jest_failures(ctx: Context) -> list[Finding]:
    """jest '●' failure blocks with the first app frame."""
    if ctx.source not in _TEST_SOURCES:
        return []
    out = []
    for n in ctx.lines_with("● "):
        m = _JEST_HEAD.match(ctx.lines[n])
        # a test outside any describe block has no separator in its name: require jest's summary
        if not m or ("\u203a" not in m.group(1) and not ctx.lines_with("Tests:")):
            continue
        j, msg, loc = n + 1, "", None
        while j < len(ctx.lines) and j < n + 80 and not _JEST_HEAD.match(ctx.lines[j]):
            s = ctx.lines[j].strip()
            if s and not msg:
                msg = s
            am = _JEST_AT.search(s)
            if am and loc is None and "node_modules" not in s:
                loc = f"{am.group(1)}:{am.group(2)}:{am.group(3)}"
            j += 1
        lines = list(range(n, j))
        ctx.claimed.update(lines)
        out.append(_fail(m.group(1).strip(), "jest", loc, msg, lines, [n, n + 2]))
    return out


_MOCHA_COUNT = re.compile(r"^\s+\d+ failing")
_MOCHA_HEAD = re.compile(r"^\s+(\d+)\) (.+?)$")


def mocha_failures(ctx: Context) -> list[Finding]:
    if ctx.source not in _TEST_SOURCES:
        return []
    out = []
    for start in ctx.lines_with(" failing"):
        if not _MOCHA_COUNT.match(ctx.lines[start]):
            continue
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
            msg, loc, k = "", None, j
            while k < len(ctx.lines) and k < j + 40 and not _MOCHA_HEAD.match(ctx.lines[k]):
                s = ctx.lines[k].strip()
                if s and not msg:
                    msg = s
                am = _JEST_AT.search(s)
                if am and loc is None and "node_modules" not in s and "node:" not in s:
                    loc = f"{am.group(1)}:{am.group(2)}:{am.group(3)}"
                k += 1
            lines = list(range(n, k))
            ctx.claimed.update(lines)
            out.append(_fail(" ".join(title), "mocha", loc, msg, lines, [n, j]))
            n = k
    return out

"""Failed tests: pytest, unittest, go test, cargo test, JUnit (Maven surefire, Gradle); the
JavaScript runners are in ``testfail_js``. One finding per failed test with its name, the test's file:line and the
assertion or exception. These detectors run before the stack-trace ones and claim the lines of
each failure, so a failing test is reported once, as a test.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding, declare_keywords
from logmarketd.analysis.agents.blocks import block_end, claim, heads

__all__ = [
    "cargo_test_failures",
    "go_test_failures",
    "junit_failures",
    "pytest_failures",
    "unittest_failures",
]


def _test_heads(
    ctx: Context, head: re.Pattern[str], *keywords: str, strip: bool = False
) -> list[tuple[int, re.Match[str]]]:
    """``heads`` of the log, whatever source it was declared as."""
    return heads(ctx, head, *keywords, strip=strip)


def _fail(
    name: str,
    runner: str,
    loc: str | None,
    msg: str,
    lines: list[int],
    ev: list[int],
    root: str | None = None,
) -> Finding:
    msg = msg.strip()
    return Finding(
        kind="error",
        title=f"test failed: {name}" + (f" - {msg}" if msg else ""),
        severity="high",
        key=f"test:{runner}:{name}",
        lines=lines,
        location=loc,
        detail=f"The {runner} test {name} fails; the build is red until it is fixed.",
        root_cause=root or (msg or None),
        fix=f"Fix the code under test or the expectation at {loc}." if loc else None,
        evidence_lines=ev,
    )


_PYTEST_SECTION = re.compile(r"^_{3,} (?:ERROR at \w+ of )?(\S+?) _{3,}$")
_PYTEST_LOC = re.compile(r"^(\S+\.py):(\d+):(?: in \S+| ?(\w[\w.]*))?$")
_PYTEST_SUMMARY = re.compile(r"^(FAILED|ERROR) (\S+?\.py)(?:::(\S+))?(?: - (.*))?$")
_PYTEST_V = re.compile(r"^(\S+\.py)::(\S+) (FAILED|ERROR)\b")


def _pytest_sections(ctx: Context) -> list[tuple[str, int]]:
    """(test name, line) of each ``___ test ___`` header after FAILURES or ERRORS."""
    in_failures = False
    sections: list[tuple[str, int]] = []
    for n in ctx.lines_with("= FAILURES =", "= ERRORS =", "_ _ _", "___ "):
        line = ctx.lines[n]
        if "= FAILURES =" in line or "= ERRORS =" in line:
            in_failures = True
            continue
        m = _PYTEST_SECTION.match(line.strip())
        if m and in_failures:
            sections.append((m.group(1), n))
    return sections


def _pytest_summary(ctx: Context) -> dict[str, tuple[str, str, int]]:
    """Short test name -> (test file, message, line) of each ``FAILED``/``ERROR`` summary line."""
    summary: dict[str, tuple[str, str, int]] = {}
    for n in ctx.lines_with("FAILED ", "ERROR "):
        m = _PYTEST_SUMMARY.match(ctx.lines[n].strip())
        if m:
            test = m.group(3) or m.group(2)
            summary[test.split("::")[-1]] = (m.group(2), m.group(4) or "", n)
            ctx.claimed.add(n)
    return summary


def _pytest_rule(line: str) -> bool:
    """A ``=== ... ===`` rule: the end of a pytest section."""
    return line.startswith("=") and line.rstrip().endswith("=")


def pytest_failures(ctx: Context) -> list[Finding]:
    """pytest failures: test id, the test file's line, the E-lines and where it was raised."""
    out: dict[str, Finding] = {}
    sections = _pytest_sections(ctx)
    summary = _pytest_summary(ctx)
    ends = [s[1] for s in sections[1:]] + ([len(ctx.lines)] if sections else [])
    for (name, start), end in zip(sections, ends, strict=True):
        locs: list[tuple[str, int, str, int]] = []
        emsg = ""
        j = block_end(ctx.lines, start + 1, _pytest_rule, limit=end)
        for k in range(start + 1, j):
            line = ctx.lines[k]
            lm = _PYTEST_LOC.match(line.strip())
            if lm:
                locs.append((lm.group(1), int(lm.group(2)), lm.group(3) or "", k))
            if line.startswith("E  ") and not emsg:
                emsg = line[1:].strip()
        short = name.split(".")[-1].split("::")[-1]
        testfile = summary.get(short, ("", "", 0))[0]
        own = [x for x in locs if testfile and x[0].endswith(testfile.rsplit("/", 1)[-1])]
        at = (own or locs or [("", 0, "", start)])[0]
        raised = locs[-1] if locs else None
        lines = claim(ctx, start, j)
        loc = f"{at[0]}:{at[1]}" if at[0] else None
        root = emsg
        if raised and raised is not at:
            root = f"{emsg} (raised at {raised[0]}:{raised[1]})"
        ev = [start] + [x[3] for x in locs[:2]]
        node = f"{testfile}::{name}" if testfile else name
        out[name] = _fail(
            node, "pytest", loc, emsg or summary.get(short, ("", "", 0))[1], lines, ev, root
        )
    for short, (path, msg, n) in summary.items():
        if not any(k.split("::")[-1].split(".")[-1] == short for k in out):
            out[short] = _fail(f"{path}::{short}", "pytest", path, msg, [n], [n])
    for n in ctx.lines_with(" FAILED", " ERROR"):
        m = _PYTEST_V.match(ctx.lines[n])
        if m and m.group(2) not in out:
            out[m.group(2)] = _fail(
                f"{m.group(1)}::{m.group(2)}", "pytest", m.group(1), "", [n], [n]
            )
    return list(out.values())


_UNITTEST = re.compile(r"^(FAIL|ERROR): (\w+) \(([\w.]+)\)")
_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')


def _unittest_end(ctx: Context, n: int) -> int:
    """End of the unittest report headed at ``n``: the next report or rule (the rules of its
    own head, within its first two lines, excepted), at most 300 lines."""
    j = block_end(ctx.lines, n + 1, _UNITTEST.match, limit=n + 3)
    if j == n + 3:
        j = block_end(ctx.lines, j, _unittest_ends, limit=n + 300)
    return j


def _unittest_ends(line: str) -> object:
    """A rule or the next report's head: the end of a unittest report."""
    return line.startswith(("=====", "-----")) or _UNITTEST.match(line)


def _py_frames(ctx: Context, start: int, end: int) -> tuple[list[tuple[str, int, str, int]], str]:
    """The Python frames (file, line, function, index) in lines ``start`` to ``end`` and the
    first unindented line after a frame (the exception)."""
    frames: list[tuple[str, int, str, int]] = []
    msg = ""
    for j in range(start, end):
        line = ctx.lines[j]
        fm = _PY_FRAME.match(line)
        if fm:
            frames.append((fm.group(1), int(fm.group(2)), fm.group(3), j))
        elif frames and not msg and line and not line.startswith((" ", "Traceback")):
            msg = line.strip()
    return frames, msg


def unittest_failures(ctx: Context) -> list[Finding]:
    """unittest FAIL/ERROR blocks: the test's own frame and the raising frame."""
    out = []
    for n, m in _test_heads(ctx, _UNITTEST, "FAIL: ", "ERROR: "):
        test = m.group(2)
        j = _unittest_end(ctx, n)
        frames, msg = _py_frames(ctx, n + 1, j)
        own = [f for f in frames if f[2] == test] or frames
        at = own[0] if own else None
        raised = frames[-1] if frames else None
        lines = claim(ctx, n, j)
        loc = f"{at[0]}:{at[1]} in {test}" if at else m.group(3)
        root = msg
        if raised and at and raised != at:
            root = f"{msg} (raised in {raised[2]}() at {raised[0].rsplit('/', 1)[-1]}:{raised[1]})"
        ev = [n] + ([at[3]] if at else []) + ([j - 1] if msg else [])
        out.append(_fail(f"{m.group(3)}", "unittest", loc, msg, lines, ev, root))
    return out


_GO_FAIL = re.compile(r"^\s*--- FAIL: (\S+) \(([\d.]+)s\)")
_GO_LOC = re.compile(r"^\s+(\S+\.go):(\d+): (.*)$")


def _go_ends(line: str) -> bool:
    """An unindented line or the next test's ``--- `` line: the end of a go test report."""
    return not line.startswith((" ", "\t")) or "--- " in line


def go_test_failures(ctx: Context) -> list[Finding]:
    """go test '--- FAIL' blocks with the file:line of the first message."""
    out = []
    for n, m in _test_heads(ctx, _GO_FAIL, "--- FAIL: "):
        j, loc, msg = block_end(ctx.lines, n + 1, _go_ends), None, ""
        lm = next(filter(None, map(_GO_LOC.match, ctx.lines[n + 1 : j])), None)
        if lm:
            loc, msg = f"{lm.group(1)}:{lm.group(2)}", lm.group(3)
        lines = claim(ctx, n, j)
        out.append(_fail(m.group(1), "go test", loc, msg, lines, lines[:3]))
    return out


_CARGO_HEAD = re.compile(r"^---- (\S+) stdout ----$")
_CARGO_PANIC = re.compile(r"panicked at (?:'(.*)', )?([^\s:']+):(\d+):(\d+):?$")


def cargo_test_failures(ctx: Context) -> list[Finding]:
    """cargo test failures: the test and its panic location."""
    out = []
    for n, m in _test_heads(ctx, _CARGO_HEAD, "---- ", strip=True):
        j = block_end(ctx.lines, n + 1, lambda line: line.startswith(("---- ", "failures:")))
        loc, msg = None, []
        for s in ctx.lines[n + 1 : j]:
            pm = _CARGO_PANIC.search(s)
            if pm and loc is None:
                loc = f"{pm.group(2)}:{pm.group(3)}:{pm.group(4)}"
                if pm.group(1):
                    msg.append(pm.group(1))
            elif (
                loc
                and s.strip()
                and not s.startswith(("stack backtrace", "note:", " "))
                and len(msg) < 1
            ) or (loc and s.startswith(("  left:", " right:")) and len(msg) < 3):
                msg.append(s.strip())
        lines = claim(ctx, n, j)
        out.append(_fail(m.group(1), "cargo test", loc, ", ".join(msg), lines, lines[:4]))
    # "test x ... FAILED" lines are the cascade of the blocks above
    for n in ctx.lines_with("... FAILED"):
        if ctx.lines[n].startswith("test "):
            ctx.claimed.add(n)
    return out


_SUREFIRE = re.compile(
    r"^\[ERROR\] (?:([\w$.]+)\.(\w+)(?:\(\))? -- |(\w+)\(([\w$.]+)\)\s+)Time elapsed: .*<<< (FAILURE|ERROR)!"
)
_GRADLE = re.compile(r"^\s*(\S+) > (.+?) FAILED$")
_JFRAME = re.compile(r"at ([\w$.]+)\.(\w+)\(([\w$]+\.(?:java|kt|scala|groovy)):(\d+)\)")


def _junit_ends(line: str) -> bool:
    """A blank line, the next Maven message or Gradle test: the end of a JUnit failure."""
    s = line.strip()
    return not s or s.startswith(("[INFO]", "[ERROR]", "[WARNING]")) or bool(_GRADLE.match(line))


_MAVEN_SUMMARY = ("[ERROR]   ", "Tests run:", "<<< FAILURE!")
declare_keywords(_MAVEN_SUMMARY)  # asked only once a failure is found: prefetched all the same


def junit_failures(ctx: Context) -> list[Finding]:
    """JUnit failures from Maven surefire and Gradle with the test class's frame."""
    out = []
    for n in ctx.lines_with("<<< FAILURE!", "<<< ERROR!", " FAILED"):
        line = ctx.lines[n]
        m = _SUREFIRE.match(line)
        g = _GRADLE.match(line) if not m else None
        if m:
            cls = m.group(1) or m.group(4)
            meth = m.group(2) or m.group(3)
        elif g and not line.startswith(("test ", "---")) and "Task" not in line:
            cls, meth = g.group(1), g.group(2).strip("() ")
        else:
            continue
        j, msg, loc = block_end(ctx.lines, n + 1, _junit_ends, limit=n + 200), "", None
        simple = cls.rsplit(".", 1)[-1]
        for s in (line.strip() for line in ctx.lines[n + 1 : j]):
            if not msg:
                msg = s
            fm = _JFRAME.search(s)
            if fm and loc is None and fm.group(1).rsplit(".", 1)[-1] == simple:
                loc = f"{fm.group(3)}:{fm.group(4)} in {fm.group(1)}.{fm.group(2)}"
            elif g and loc is None and " at " in s and re.search(r"at (\S+\.\w+):(\d+)$", s):
                gm = re.search(r"at (\S+\.\w+):(\d+)$", s)
                assert gm is not None
                loc = f"{gm.group(1)}:{gm.group(2)}"
        lines = claim(ctx, n, j)
        out.append(_fail(f"{cls}.{meth}", "JUnit", loc, msg, lines, [n, n + 1]))
    if out:
        # Maven repeats each failure in its "Results:" summary: claim those lines too
        for n in ctx.lines_with(*_MAVEN_SUMMARY):
            ctx.claimed.add(n)
    return out

"""Quality Inspector: compiler warnings, deprecations, lint findings, skipped/xfail/flaky tests,
coverage under the threshold, and TODO/debug noise. One finding per category (warning flag,
lint rule, ...) with a count and the first location, so a build with 500 warnings gives a
handful of actionable items rather than 500.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field

from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.leveled import continued, locate

__all__ = [
    "SECURITY_FLAG",
    "compiler_warning",
    "compiler_warnings",
    "coverage",
    "deprecations",
    "lint",
    "noise",
    "test_hygiene",
]


class _Groups:
    def __init__(self) -> None:
        self.items: dict[str, Finding] = {}
        self.seen: set[int] = set()  # lines already part of a finding

    def add(self, key: str, n: list[int], title: str, loc: str | None, suggestion: str, detail: str = "",
            effort: str = "low", impact: str = "medium") -> None:  # fmt: skip
        self.seen.update(n)
        f = self.items.get(key)
        if f is not None:
            f.count += 1
            f.lines.extend(n)
            if len(f.evidence_lines) < 4:
                f.evidence_lines.append(n[0])
            return
        self.items[key] = Finding(
            kind="improvement", title=title, severity="low" if impact == "low" else "medium", key=key,
            lines=list(n), location=loc, detail=detail or suggestion, fix=suggestion, evidence_lines=[n[0]],
            effort=effort, impact=impact,  # type: ignore[arg-type]
        )  # fmt: skip

    def done(self) -> list[Finding]:
        for f in self.items.values():
            if f.count > 1:
                f.title = f"{f.title} (x{f.count})"
        return list(self.items.values())


_CCW = re.compile(r"^(\S+?):(\d+)(?::(\d+))?: warning: (?:\[(\w+)\] )?(.+?)(?: \[(-W[\w=+-]+)\])?$")
_RUSTW = re.compile(r"^warning: (.+)$")
_RUST_AT = re.compile(r"^\s*--> (\S+?):(\d+):(\d+)$")
_TICKS = re.compile(r"`[^`]*`|\u2018[^\u2019]*\u2019|'[^']*'|\"[^\"]*\"")


# the lint a rustc/clippy warning block names: its help link's anchor or its #[warn(...)] note
_RUST_LINT = re.compile(r"index\.html#(\w+)|#\[(?:warn|deny)\((\w+(?:::\w+)?)\)\]")


def _rust_lint(ctx: Context, k: int) -> str | None:
    """The lint named in the warning block below line ``k`` (up to its next blank line)."""
    for j in range(k + 1, min(k + 14, len(ctx.lines))):
        line = ctx.lines[j]
        if not line.strip() or line.startswith(("warning", "error")):
            return None
        if m := _RUST_LINT.search(line):
            return m.group(1) or m.group(2)
    return None


# Warnings of GCC and Clang that point at memory or format-string safety: the Security
# Guardian's (``security.compiler_security_warnings``), not style
SECURITY_FLAG = re.compile(
    r"^-W(?:format-security|format-nonliteral|format-overflow|format-truncation|stringop-overflow|"
    r"stringop-truncation|array-bounds|stack-protector|fortify-source|builtin-memcpy-chk-size|"
    r"sizeof-pointer-memaccess|free-nonheap-object|use-after-free|dangling-pointer|return-local-addr|"
    r"return-stack-address|alloc-size-larger-than|vla-larger-than|string-compare|unsafe-buffer-usage)(?:=\S*)?$"
)


def compiler_warning(line: str) -> re.Match[str] | None:
    """The line as a C-family compiler's warning (file, line, col, category, message, flag)."""
    return _CCW.match(line)


def compiler_warnings(ctx: Context) -> list[Finding]:
    """Compiler warnings per flag/category with the first location."""
    g = _Groups()
    for n in ctx.lines_with("warning: "):
        line = ctx.lines[n]
        m = _CCW.match(line)
        if m and m.group(6) and SECURITY_FLAG.match(m.group(6).split(",")[0]):
            continue  # the Security Guardian's
        if m:
            file, ln, col, jcat, msg, flag = m.groups()
            if "deprecat" in (jcat or "") + msg or jcat == "removal":
                continue  # reported by the deprecation detector
            cat = flag or (f"[{jcat}]" if jcat else _TICKS.sub("<x>", msg))
            loc = f"{file}:{ln}" + (f":{col}" if col else "")
            g.add(f"warn:{cat}", [n, n + 1], f"compiler warning {cat}: {msg}", loc,
                  f"Fix the warning at {loc} and build with warnings as errors.", impact="low")  # fmt: skip
            continue
        r = _RUSTW.match(line)
        if r and not re.search(
            r"generated \d+ warnings?|unused manifest key|profiles? for the non root", line
        ):
            for k in range(n + 1, min(n + 3, len(ctx.lines))):
                a = _RUST_AT.match(ctx.lines[k])
                if a:
                    cat = _TICKS.sub("<x>", r.group(1))
                    loc = f"{a.group(1)}:{a.group(2)}:{a.group(3)}"
                    if "deprecat" in cat:
                        break
                    lint = _rust_lint(ctx, k)
                    title = f"rustc warning: {r.group(1)}" + (f" ({lint})" if lint else "")
                    g.add(f"warn:rust:{lint or cat}", [n, k], title, loc,
                          f"Fix the warning at {loc} (cargo fix / cargo clippy).", impact="low")  # fmt: skip
                    break
    return g.done()


_PYDEP = re.compile(r"^(\S+?\.py):(\d+): (\w*(?:DeprecationWarning|FutureWarning)): (.+)$")
_NPMDEP = re.compile(r"npm (?:WARN|warn) deprecated (\S+): (.+)$")
_NODEDEP = re.compile(r"^\(node:\d+\) (?:\[(DEP\d+)\] )?DeprecationWarning: (.+)$")
_JS_FRAME = re.compile(r"^\s+at (?:.*?\()?([^\s()]+?:\d+:\d+)\)?$")


def _first_app_frame(ctx: Context, n: int) -> str | None:
    """The first stack frame of the application's own code below line ``n`` (not node:'s
    internals, not node_modules), when node printed the trace (--trace-deprecation)."""
    for k in range(n + 1, min(n + 20, len(ctx.lines))):
        fm = _JS_FRAME.match(ctx.lines[k])
        if fm is None:
            return None
        if "node:" not in fm.group(1) and "node_modules" not in fm.group(1):
            return fm.group(1)
    return None


_JDEP = re.compile(r"^(\S+?):(\d+): warning: \[(deprecation|removal)\] (.+)$")
_GENDEP = re.compile(
    r"\b(?:is|are|has been|was) deprecated\b|\bDEPRECAT(?:ED|ION)\b|\[DEPRECATION\]|Deprecated \w+ features",
    re.I,
)


def deprecations(ctx: Context) -> list[Finding]:
    """Deprecation warnings (Python, Java, npm, generic) per API."""
    g = _Groups()
    for n in ctx.lines_with("eprecat", "EPRECAT", "FutureWarning"):
        line = ctx.lines[n]
        if m := _PYDEP.match(line):
            loc = f"{m.group(1)}:{m.group(2)}"
            # (the quoted name is the API: 'cgi' and 'telnetlib' are two migrations, not one)
            g.add(f"dep:py:{m.group(3)}:{re.sub(r'[0-9]+', 'N', m.group(4))[:100]}", [n, n + 1], f"{m.group(3)}: {m.group(4)}", loc,
                  f"Replace the deprecated API used at {loc} before it is removed.", effort="low")  # fmt: skip
        elif m := _JDEP.match(line):
            loc = f"{m.group(1)}:{m.group(2)}"
            what = re.sub(r"\(.*?\)", "()", m.group(4))
            g.add(f"dep:java:{m.group(3)}:{what}", [n, n + 1], f"deprecated API ({m.group(3)}): {m.group(4)}", loc,
                  f"Replace the deprecated call at {loc}.", impact="high" if m.group(3) == "removal" else "medium")  # fmt: skip
        elif m := _NODEDEP.match(line):
            what = m.group(1) or _TICKS.sub("<x>", m.group(2))[:100]
            g.add(f"dep:node:{what}", [n], f"node deprecation {m.group(1) or ''}: {m.group(2)}".replace("  ", " "),
                  _first_app_frame(ctx, n), "Move off the deprecated Node.js API named here.")  # fmt: skip
        elif m := _NPMDEP.search(line):
            g.add(f"dep:npm:{m.group(1).rsplit('@', 1)[0]}", [n], f"deprecated npm package {m.group(1)}: {m.group(2)}",
                  f"dependency {m.group(1)}", f"Replace or upgrade {m.group(1)}.")  # fmt: skip
        elif (
            _GENDEP.search(line)
            and not line.lstrip().startswith(("#", "//"))
            and not re.match(r"^\s+\S", line)
        ):
            head = line.strip()
            text = continued(ctx, n, head)  # a header line ending in ":" says it below
            g.add(f"dep:gen:{_TICKS.sub('<x>', re.sub(r'[0-9]+', 'N', head))[:100]}", [n], f"deprecation: {text[:240]}",
                  locate(head), "Move off the deprecated feature named here.", impact="low")  # fmt: skip
    return g.done()


_RUFF_FULL = re.compile(r"^([A-Z]{1,4}\d{2,4}) (?:\[\*\] )?(.+)$")
_FLAKE = re.compile(r"^(\S+?\.\w+):(\d+):(\d+): ([A-Z]{1,4}\d{2,4}) (?:\[\*\] )?(.+)$")
_PYLINT = re.compile(r"^(\S+?\.py):(\d+):(\d+): ([CRWEF]\d{4}): (.+?) \(([\w-]+)\)$")
GO_LINTERS = (
    "errcheck", "ineffassign", "staticcheck", "gosimple", "unused", "govet", "revive", "gocritic", "gosec",
    "stylecheck", "misspell", "goconst", "gocyclo", "dupl", "unparam", "prealloc", "nakedret", "gofmt", "goimports",
)  # fmt: skip
GOLINT = re.compile(r"^(\S+\.go):(\d+):(\d+): (.+) \((" + "|".join(GO_LINTERS) + r")\)$")
# what GOLINT, _PYLINT and _FLAKE all begin with: one regex tried where three would fail
_PATH_LINE_COL = re.compile(r"\S+?:\d+:\d+: ")
_ESLINT = re.compile(r"^\s+(\d+):(\d+)\s+(error|warning)\s+(.+?)\s{2,}(@?[\w/-]+)$")


# A linter's report entry, whatever the tool: "path:line[:col]: [level] message (rule-id)"
# (yamllint's parsable form, and any tool that names its rule last in parentheses)
LINT_ENTRY = re.compile(
    r"^(?P<file>[\w./@~+-]+\.\w{1,8}):(?P<line>\d+)(?::\d+)?:?\s+"
    r"(?:(?P<level>\[?(?:error|warning|info|style|note|convention|refactor)\]?):?\s+)?"
    r"(?P<msg>\S.*?)\s+\((?P<code>[a-z][a-z0-9]*(?:[-_/][a-z0-9]+)*|[A-Z]{1,4}\d{2,5})\)\s*$"
)


# The same, with the rule named in brackets last ("app.py:12: error: Incompatible return value
# type  [return-value]": mypy), or first after the position ("app.rb:3:1: C:
# Style/FrozenStringLiteralComment: Missing ...": RuboCop; "Dockerfile:3 DL3008 warning: Pin
# versions": hadolint; "README.md:3 MD022/blanks-around-headings Headings should ...": markdownlint)
LINT_BRACKET = re.compile(
    r"^(?P<file>[\w./@~+-]+\.\w{1,8}):(?P<line>\d+)(?::\d+)?:\s+(?P<level>error|warning|note):\s+"
    r"(?P<msg>\S.*?)\s+\[(?P<code>[a-z][a-z0-9]*(?:-[a-z0-9]+)+|[a-z]{3,}[a-z0-9-]*)\]\s*$"
)
LINT_CODE_FIRST = re.compile(
    r"^(?P<file>(?:[\w./@~+-]*/)?(?:Dockerfile|Makefile)|[\w./@~+-]+\.\w{1,8}):(?P<line>\d+)(?::\d+)?:?\s+(?:(?P<level>[CWERF]|error|warning|info|style):\s+)?(?:\[Correctable\] )?"
    r"(?P<code>[A-Z][a-z]+/[A-Z]\w+|[A-Z]{2,3}\d{3,4}(?:/[a-z][\w-]+)?)(?::\s+|\s+(?:(?:error|warning|info|style):\s+)?)(?P<msg>\S.+)$"
)


_POSITION_FIRST = re.compile(r"[\w./@~+-]+:\d")  # what every linter entry begins with


def lint_entry(line: str) -> re.Match[str] | None:
    """The line as a linter's report entry, or None; a one-word rule id counts only beside a
    level ("[error] ... (indentation)"), since "(here)" ends many a message."""
    tail = line.rstrip()[-1:]
    if tail == "]" and (b := LINT_BRACKET.match(line)) is not None:
        return b
    m = LINT_ENTRY.match(line) if tail == ")" else None
    if m is not None and (m.group("level") or re.search(r"[-_/\d]", m.group("code"))):
        return m
    return LINT_CODE_FIRST.match(line) if ":" in line[:200] else None


# ShellCheck's default output: a caret line naming the code, under "In FILE line N:"
_SHELLCHECK = re.compile(r"\^-*\^? (SC\d{4}) \((error|warning|info|style)\): (.+)$")
_SC_WHERE = re.compile(r"^In (\S+) line (\d+):$")


def _shellcheck_where(ctx: Context, n: int) -> str | None:
    for k in range(n - 1, max(-1, n - 20), -1):
        if m := _SC_WHERE.match(ctx.lines[k]):
            return f"{m.group(1)}:{m.group(2)}"
    return None


def lint(ctx: Context) -> list[Finding]:
    """Linter findings (ruff, flake8, pylint, eslint, golangci-lint) per rule."""
    g = _Groups()

    def add(code: str, msg: str, loc: str, n: list[int]) -> None:
        g.add(
            f"lint:{code}",
            n,
            f"lint {code}: {msg}",
            loc,
            f"Fix {code} at {loc} (or run the linter's autofix).",
        )

    for n in ctx.lines_with("-->"):
        a = _RUST_AT.match(ctx.lines[n])
        if a and n and (m := _RUFF_FULL.match(ctx.lines[n - 1])):
            add(m.group(1), _TICKS.sub("<x>", m.group(2)) if m.group(1).startswith("F4") else m.group(2),
                f"{a.group(1)}:{a.group(2)}:{a.group(3)}", [n - 1, n])  # fmt: skip
    for n in ctx.lines_with(".py:", ".js:", ".ts:", ".go:", ".rb:", ".jsx:", ".tsx:", ".sh:"):
        line = ctx.lines[n]
        if _PATH_LINE_COL.match(line) is None:
            continue  # none of the three below can match: each begins so
        if (m := GOLINT.match(line)) is not None:
            add(m.group(5), m.group(4), f"{m.group(1)}:{m.group(2)}:{m.group(3)}", [n])
        elif (m := _PYLINT.match(line)) is not None:
            add(
                f"{m.group(4)} {m.group(6)}",
                m.group(5),
                f"{m.group(1)}:{m.group(2)}:{m.group(3)}",
                [n],
            )
        elif (
            (m := _FLAKE.match(line)) is not None
            and "warning" not in line
            and "error" not in line.split(":", 4)[-1][:8]
        ):
            add(m.group(4), m.group(5), f"{m.group(1)}:{m.group(2)}:{m.group(3)}", [n])
    for n in ctx.lines_with(" SC"):
        if (m := _SHELLCHECK.search(ctx.lines[n])) is not None:
            add(m.group(1), m.group(3), _shellcheck_where(ctx, n) or "script", [n])
    for n in ctx.lines_with(")", "]", ".rb:", "Dockerfile:", ".md:"):
        line = ctx.lines[n]
        if n not in g.seen and _POSITION_FIRST.match(line) and (m := lint_entry(line)) is not None:
            add(m.group("code"), m.group("msg"), f"{m.group('file')}:{m.group('line')}", [n])
    header = None
    for n in ctx.lines_with("  error  ", "  warning  "):
        m = _ESLINT.match(ctx.lines[n])
        if not m:
            continue
        k = n - 1
        while k >= 0 and _ESLINT.match(ctx.lines[k]):
            k -= 1
        header = ctx.lines[k].strip() if k >= 0 else "?"
        add(m.group(5), m.group(4), f"{header}:{m.group(1)}:{m.group(2)}", [n])
    return g.done()


_SKIP = re.compile(
    r"^SKIPPED \[(\d+)\] (\S+?):(\d+): (.+)$|^\s*--- SKIP: (\S+)|^test (\S+) \.\.\. ignored|skipped '(.+)'$"
)
_XFAIL = re.compile(r"^XFAIL (\S+?)(?: - (.+))?$")
_FLAKY = re.compile(
    r"\b[Ff]laky\b|\bFLAKY\b|\bRERUN\b|passed on retry|\bFlakes?:|\brerun(?:ning)? failed"
)
_SUMMARY = re.compile(
    r"\b(\d+) (skipped|xfailed|deselected)\b|Skipped: (\d+)|\bTests:.*?(\d+) skipped|OK \(skipped=(\d+)\)"
)


# Words without which _SKIP, _FLAKY and _SUMMARY cannot match (``in`` tests are far cheaper
# than the regexes' alternations on the many lines that only say "retry")
def _may_skip(line: str) -> bool:
    return "SKIP" in line or "ignored" in line or "skipped '" in line


def _may_flake(line: str) -> bool:
    return any(w in line for w in ("laky", "LAKY", "RERUN", "passed on retry", "Flake", "rerun"))


def _may_count(line: str) -> bool:
    return any(w in line for w in ("skipped", "xfailed", "deselected", "Skipped: "))


@dataclass
class _Hygiene:
    """What the test output says about skipped, xfail and flaky tests."""

    skipped: list[tuple[int, str, str | None]] = field(default_factory=list)  # line, why, where
    xfail: list[tuple[int, str]] = field(default_factory=list)  # line, test or reason
    xfail_loc: list[str] = field(default_factory=list)
    flaky: list[int] = field(default_factory=list)
    summary_counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def _scan_hygiene(ctx: Context) -> _Hygiene:
    h = _Hygiene()
    skipped, xfail, flaky, summary_counts = h.skipped, h.xfail, h.flaky, h.summary_counts
    for n in ctx.lines_with(
        "SKIP",
        "ignored",
        "skipped",
        "Skipped",
        "XFAIL",
        "xfailed",
        "laky",
        "RERUN",
        "rerun",
        "retry",
    ):
        line = ctx.lines[n]
        if _may_skip(line) and (m := _SKIP.search(line)):
            if m.group(1):
                skipped.append((n, m.group(4), f"{m.group(2)}:{m.group(3)}"))
            else:
                skipped.append((n, m.group(5) or m.group(6) or m.group(7) or "", None))
        elif m := _XFAIL.match(line.strip()):
            xfail.append((n, m.group(2) or m.group(1)))
            h.xfail_loc.append(m.group(1))
        elif _may_flake(line) and _FLAKY.search(line):
            flaky.append(n)
        for sm in _SUMMARY.finditer(line) if _may_count(line) else ():
            if sm.group(2) in ("skipped", "xfailed"):
                summary_counts[sm.group(2)] = max(summary_counts[sm.group(2)], int(sm.group(1)))
            elif sm.group(3) or sm.group(4) or sm.group(5):
                summary_counts["skipped"] = max(
                    summary_counts["skipped"], int(sm.group(3) or sm.group(4) or sm.group(5))
                )
    return h


def test_hygiene(ctx: Context) -> list[Finding]:
    """Skipped, xfail and flaky tests."""
    h = _scan_hygiene(ctx)
    skipped, xfail, flaky, summary_counts = h.skipped, h.xfail, h.flaky, h.summary_counts
    out = []
    n_skip = max(len(skipped), summary_counts["skipped"])
    if n_skip:
        idx = [s[0] for s in skipped] or [0]
        reasons = "; ".join(dict.fromkeys(s[1] for s in skipped if s[1]))[:300]
        loc = next((s[2] for s in skipped if s[2]), None)
        out.append(Finding(
            kind="improvement", title=f"{n_skip} skipped test(s)" + (f": {reasons}" if reasons else ""),
            severity="low", key="tests:skipped", lines=idx, location=loc, count=n_skip,
            detail="Skipped tests do not protect anything; each skip hides untested behaviour.",
            fix="Make the skipped tests runnable in CI (fakes for missing services) or delete them.",
            evidence_lines=idx[:3], effort="medium", impact="medium",
        ))  # fmt: skip
    n_x = max(len(xfail), summary_counts["xfailed"])
    xfail_at = h.xfail_loc[0] if h.xfail_loc else None
    if n_x:
        idx = [x[0] for x in xfail] or [0]
        out.append(Finding(
            kind="improvement",
            title=f"{n_x} expected-failure test(s) (xfail): " + "; ".join(x[1] for x in xfail)[:200],
            severity="low", key="tests:xfail", lines=idx, location=xfail_at, count=n_x,
            detail="Known bugs are parked as xfail instead of being fixed.", fix="Fix the bugs behind the xfail markers.",
            evidence_lines=idx[:3], effort="medium", impact="medium",
        ))  # fmt: skip
    if flaky:
        out.append(Finding(
            kind="improvement", title=f"flaky tests: {len(flaky)} rerun/flaky report(s)", severity="medium",
            key="tests:flaky", lines=flaky, location=None, count=len(flaky),
            detail="Tests that pass only on retry hide race conditions and erode trust in CI.",
            fix="Quarantine and fix the flaky tests (time, ordering, shared state).", evidence_lines=flaky[:3],
            effort="medium", impact="high",
        ))  # fmt: skip
    return out


_COV = re.compile(
    r"^TOTAL\s+\d+\s+\d+\s+(?:\d+\s+\d+\s+)?(\d+(?:\.\d+)?)%|Total coverage: (\d+(?:\.\d+)?)%|coverage: (\d+(?:\.\d+)?)% of statements"
    r"|^All files\s*\|\s*(\d+(?:\.\d+)?)|^\s*lines\.*: (\d+(?:\.\d+)?)%|Statements\s*: (\d+(?:\.\d+)?)%"
)
_COV_ROW = re.compile(r"^(\S+\.\w+)\s+\d+\s+\d+\s+(?:\d+\s+\d+\s+)?(\d+)%\s*(.*)$")


# A coverage tool's own verdict, whatever the tool: a line about coverage holding the measured
# figure and the threshold it missed ("Coverage for lines (45.45%) does not meet global
# threshold (80%)", "coverage threshold for lines (80%) not met: 45.45%", "Line coverage
# (45.00%) is below the expected minimum coverage (80.00%)", "Required test coverage of 90% not
# reached. Total coverage: 45.00%", "total of 45 is less than fail-under=90", "(got 45.5%,
# minimum 80.0%)", "lines covered ratio is 0.45, but expected minimum is 0.80")
_COV_VERDICT = re.compile(
    r"\b(?:threshold|minimum|expected|required|fail[-_ ]under|less than|not met|not reached|below)\b",
    re.I,
)
_COV_NUMBER = re.compile(r"(?<![\w.])(\d{1,3}(?:\.\d+)?)(%?)(?![\w.]*\d)")
_COV_LIMIT = re.compile(
    r"(?:threshold|minimum|required|fail[-_ ]under|expected minimum)\b[^\d]{0,30}?(\d{1,3}(?:\.\d+)?)",
    re.I,
)
_COV_WORD = re.compile(r"threshold|minimum|required|fail[-_ ]under|expected minimum", re.I)
_COV_METRIC = re.compile(
    r"\b(lines?|statements?|branch(?:es)?|functions?|methods?|instructions?)\b", re.I
)


def _verdict(line: str) -> tuple[float, float, str] | None:
    """(measured %, threshold %, metric) of a coverage tool's verdict line, or None."""
    low = line.lower()
    if ("coverage" not in low and "covered" not in low) or not _COV_VERDICT.search(line):
        return None
    # the threshold: the number nearest after a threshold word ("minimum line coverage (got
    # 45.5%, minimum 80.0%)": 80)
    limits = [m for w in _COV_WORD.finditer(line) if (m := _COV_LIMIT.match(line, w.start()))]
    limit_m = min(limits, key=lambda m: m.start(1) - m.start(), default=None)
    numbers = [(m.start(1), float(m.group(1))) for m in _COV_NUMBER.finditer(line)]
    if limit_m is None or len(numbers) < 2:
        return None
    limit = float(limit_m.group(1))
    rest = [v for at, v in numbers if at != limit_m.start(1)]
    ratio = "ratio" in low and limit <= 1 and all(v <= 1 for v in rest)
    actual = rest[0]
    if ratio:
        actual, limit = actual * 100, limit * 100
    if not 0 <= actual < limit <= 100:
        return None
    metric = _COV_METRIC.search(line)
    return actual, limit, metric.group(1).lower() if metric else "lines"


def _verdicts(ctx: Context) -> list[Finding]:
    found = [
        (n, v) for n in ctx.lines_with_ci("coverage", "covered") if (v := _verdict(ctx.lines[n]))
    ]
    if not found:
        return []
    actual, limit, metric = min((v for _, v in found), key=lambda v: v[0] - v[1])
    said = ", ".join(dict.fromkeys(f"{m} {a:g}% < {lim:g}%" for _, (a, lim, m) in found[:6]))
    return [Finding(
        kind="improvement", title=f"test coverage {actual:g}% is under its threshold {limit:g}% ({said})",
        severity="medium", key="coverage", lines=[k for k, _ in found], location=None, threshold=limit, actual=actual,
        detail=f"The coverage tool failed the run: {said}.",
        fix=f"Add tests for the uncovered {metric}, or lower the threshold only knowingly.",
        evidence_lines=[k for k, _ in found[:3]], effort="medium", impact="high",
    )]  # fmt: skip


def coverage(ctx: Context) -> list[Finding]:
    """Test coverage under the tool's own threshold (its verdict line), else under the
    configured minimum, with the worst file."""
    verdicts = _verdicts(ctx)
    table = _table_coverage(ctx, verdicts[0].threshold if verdicts else None)
    if verdicts and table:  # the tool's verdict, with its report's total and worst files
        v, t = verdicts[0], table[0]
        v.detail = f"{v.detail} {t.detail}"
        v.location, v.lines = t.location, sorted({*v.lines, *t.lines})
    return verdicts or table


def _table_coverage(ctx: Context, threshold: float | None) -> list[Finding]:
    """Coverage under ``threshold`` (default: the configured minimum) from a report's total
    line, with the files under it."""
    best: tuple[float, int] | None = None
    for n in ctx.lines_with("TOTAL", "overage", "All files", "lines..", "Statements"):
        m = _COV.search(ctx.lines[n])
        if m:
            pct = float(next(g for g in m.groups() if g))
            best = (pct, n) if best is None else best
    limit = threshold if threshold is not None else ctx.config.coverage_min_percent
    if best is None or best[0] >= limit:
        return []
    pct, n = best
    rows = []
    for k in range(max(0, n - 60), n):
        r = _COV_ROW.match(ctx.lines[k])
        if r and float(r.group(2)) < limit:
            rows.append((k, r.group(1), r.group(2), r.group(3)))
    worst = rows[0] if rows else None
    loc = (
        f"{worst[1]} (missing lines {worst[3]})"
        if worst and worst[3]
        else worst[1]
        if worst
        else None
    )
    return [Finding(
        kind="improvement", title=f"test coverage {pct:g}% is under {limit:g}%", severity="medium",
        key="coverage", lines=[n] + [r[0] for r in rows], location=loc,
        detail=f"Coverage {pct:g}% (threshold {limit:g}%)" + (": " + ", ".join(f"{r[1]} {r[2]}%" for r in rows[:5]) if rows else "."),
        fix="Add tests for the uncovered lines listed" + (f" in {worst[1]}" if worst else "") + ".",
        evidence_lines=[n] + [r[0] for r in rows[:2]], effort="medium", impact="high",
    )]  # fmt: skip


_TODO = re.compile(r"\b(TODO|FIXME|XXX|HACK)\b[:\s]")


def noise(ctx: Context) -> list[Finding]:
    """TODO/FIXME markers printed in the log output."""
    idx = [n for n in ctx.lines_with("TODO", "FIXME", "XXX", "HACK") if _TODO.search(ctx.lines[n])]
    if len(idx) < 3:
        return []
    return [Finding(
        kind="improvement", title=f"{len(idx)} TODO/FIXME messages in the log output", severity="low",
        key="noise:todo", lines=idx, location=None, count=len(idx),
        detail="Unfinished-work markers are printed at run time: noise for operators, debt for developers.",
        fix="Resolve the TODOs or track them as issues; remove them from log output.", evidence_lines=idx[:3],
        effort="low", impact="low",
    )]  # fmt: skip

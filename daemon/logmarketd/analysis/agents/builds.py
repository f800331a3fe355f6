"""Compiler and build-tool errors: gcc/clang, rustc/cargo, javac, tsc, go build, make, pip, npm,
Maven/Gradle, the linker. Each distinct compiler error is a finding at its ``file:line:col``;
the tool's closing lines ("make: *** Error 1", "could not compile", "BUILD FAILURE",
"npm error code 1") are cascade findings, kept only when nothing more specific was found.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from logmarketd.analysis.agents.base import Context, Finding, mask, seen_again
from logmarketd.analysis.agents.quality import GOLINT, LINT_BRACKET

__all__ = ["build_summaries", "compiler_errors", "package_errors"]

_MAX = 25

# file:line[:col]: [fatal ]error: message  (gcc, clang, javac, swiftc, go vet, many linters)
_CC = re.compile(
    r"^(?:\[ERROR\] )?([^\s:][^:]*?\.\w{1,6}):(\d+)(?::(\d+))?:? (?:fatal )?error(?:\[\w+\])?: (.+)$"
)
_MVN = re.compile(r"^\[ERROR\] (\S+\.\w+):\[(\d+),(\d+)\] (.+)$")
_TSC = re.compile(
    r"^(\S+\.[cm]?[jt]sx?)(?:\((\d+),(\d+)\):?|:(\d+):(\d+)) ?-? ?error (TS\d+): (.+)$"
)
_RUSTC = re.compile(r"^error(?:\[(E\d+)\])?: (.+)$")
_RUST_AT = re.compile(r"^\s*--> (\S+?):(\d+):(\d+)$")
_GO = re.compile(r"^(\.{0,2}/?[\w./-]+\.go):(\d+):(\d+): (.+)$")
_LD = re.compile(
    r"^(?:/usr/bin/ld: |ld: )?(\S+?):(?:\(\.\w+\+0x[0-9a-f]+\)|(\d+)):? undefined reference to [`'](.+?)'"
)
_RUST_SUMMARY = ("could not compile", "aborting due to", "test failed, to rerun")


def _compile_finding(
    tool: str, file: str, line: int, col: int | None, msg: str, idx: list[int], first: bool
) -> Finding:
    loc = (f"{file}:{line}" if line else file) + (f":{col}" if col else "")
    return Finding(
        kind="error",
        title=f"{tool} error: {msg}",
        severity="high" if first else "medium",
        key=f"build:{tool}:{file.rsplit('/', 1)[-1]}:{line}:{mask(msg)}",
        lines=idx,
        location=loc,
        detail="The build fails: this source does not compile.",
        root_cause=msg,
        fix=f"Fix the code at {loc}: {msg}",
        evidence_lines=idx[:3],
    )


# (tool, file, line, column, message, covered lines): records one compiler error
_Add = Callable[[str, str, int, int | None, str, list[int]], None]


def compiler_errors(ctx: Context) -> list[Finding]:
    """Compiler errors (gcc/clang, javac, tsc, rustc, go, linker) at their file:line:col."""
    out: list[Finding] = []
    seen: set[str] = set()

    def add(tool: str, file: str, line: int, col: int | None, msg: str, idx: list[int]) -> None:
        f = _compile_finding(tool, file, line, col, msg, idx, not out)
        if f.key in seen or len(out) >= _MAX:
            return
        seen.add(f.key)
        ctx.claimed.update(idx)
        out.append(f)

    _error_lines(ctx, add)
    _go_and_linker_errors(ctx, add)
    return out


def _error_lines(ctx: Context, add: _Add) -> None:
    """Lines with the word "error": C/C++, javac (also as Maven prints it), tsc, rustc."""
    for n in ctx.lines_with("error"):
        line = ctx.lines[n]
        if n in ctx.claimed or not (
            "error:" in line or "error[" in line or "] " in line or " error " in line
        ):
            continue
        if (m := _CC.match(line)) and LINT_BRACKET.match(line) is None:
            # (a type checker's entry naming its rule in brackets is the Quality Inspector's)
            file = m.group(1)
            tool = (
                "javac" if file.endswith(".java") else "go" if file.endswith(".go") else "compiler"
            )
            if file.endswith((".c", ".h", ".cc", ".cpp", ".cxx", ".hpp", ".m", ".mm")):
                tool = "C/C++"
            col = int(m.group(3)) if m.group(3) else None
            add(tool, file, int(m.group(2)), col, m.group(4).strip(), [n, n + 1])
        elif m2 := _MVN.match(line):
            add("javac", m2.group(1), int(m2.group(2)), int(m2.group(3)), m2.group(4), [n])
        elif t := _TSC.match(line):
            ln, cn = (t.group(2), t.group(3)) if t.group(2) else (t.group(4), t.group(5))
            add(f"tsc {t.group(6)}", t.group(1), int(ln), int(cn), t.group(7), [n])
        elif (r := _RUSTC.match(line)) and not any(s in line for s in _RUST_SUMMARY):
            _rustc_error(ctx, n, r, add)


def _rustc_error(ctx: Context, n: int, r: re.Match[str], add: _Add) -> None:
    """rustc prints the location (``--> src/main.rs:3:5``) on one of the next lines."""
    for k in range(n + 1, min(n + 4, len(ctx.lines))):
        a = _RUST_AT.match(ctx.lines[k])
        if a:
            code = f" {r.group(1)}" if r.group(1) else ""
            span = list(range(n, min(k + 4, len(ctx.lines))))
            add(f"rustc{code}", a.group(1), int(a.group(2)), int(a.group(3)), r.group(2), span)
            return


def _go_and_linker_errors(ctx: Context, add: _Add) -> None:
    # go build prints no "error:" word: "./file.go:13:14: message" after a "# package" line
    for n in ctx.lines_with(".go:"):
        if n in ctx.claimed:
            continue
        g = _GO.match(ctx.lines[n])
        if (
            g
            and not ctx.lines[n].startswith((" ", "\t"))
            and " warning" not in ctx.lines[n]
            and not GOLINT.match(ctx.lines[n])
        ):
            add("go", g.group(1), int(g.group(2)), int(g.group(3)), g.group(4), [n])
    for n in ctx.lines_with("undefined reference to"):
        if n in ctx.claimed:
            continue
        ld = _LD.search(ctx.lines[n])
        if ld:
            msg = f"undefined reference to '{ld.group(3)}'"
            add("linker", ld.group(1), int(ld.group(2) or 0), None, msg, [n])


_PIP_NOVER = re.compile(r"ERROR: Could not find a version that satisfies the requirement (\S+)")
_PIP_WHEEL = re.compile(r"(?:ERROR: )?Failed (?:building wheel|to build) (?:for )?(\S+)")
_NPM_404 = re.compile(
    r"npm (?:ERR!|error) 404 +(?:'?(\S+?)'? is not in (?:the npm|this) registry"
    r"|The requested resource '(\S+?)' could not be found|Not Found - GET https?://\S+?/(@?[^/\s]+(?:/[^/\s]+)?)$)"
)
_NPM_SCRIPT = re.compile(r'npm (?:ERR!|error) Missing script: "?([\w:-]+)"?')
_MAKE_RULE = re.compile(
    r"make(?:\[\d+\])?: \*\*\* No rule to make target [`'](.+?)', needed by [`'](.+?)'"
)
_NOMOD = re.compile(r"(?:ModuleNotFoundError|ImportError): No module named '([\w.]+)'")


def package_errors(ctx: Context) -> list[Finding]:
    """Package-manager failures: pip, npm (missing package or script), make's missing targets."""
    return [*_pip_errors(ctx), *_npm_errors(ctx), *_make_and_import_errors(ctx)]


def _package_finding(
    ctx: Context, title: str, loc: str, key: str, n: int, fix: str, detail: str
) -> Finding:
    ctx.claimed.add(n)
    return Finding(
        kind="error", title=title, severity="high", key=key, lines=[n],
        location=loc, detail=detail, root_cause=title, fix=fix, evidence_lines=[n],
    )  # fmt: skip


def _pip_errors(ctx: Context) -> list[Finding]:
    out = []
    for n in ctx.lines_with(
        "ERROR: Could not find a version", "Failed building wheel", "Failed to build "
    ):
        line = ctx.lines[n]
        if m := _PIP_NOVER.search(line):
            req = m.group(1)
            out.append(_package_finding(
                ctx, f"pip cannot install {req}: no matching distribution", f"requirement {req}",
                f"pip:nover:{req}", n, f"Check the name and version of {req} (typo, yanked, or wrong index).",
                "Dependency installation fails, so the build stops.",
            ))  # fmt: skip
        elif m := _PIP_WHEEL.search(line):
            out.append(_package_finding(
                ctx, f"pip failed to build {m.group(1)}", f"package {m.group(1)}", f"pip:wheel:{m.group(1)}", n,
                f"Install the build dependencies of {m.group(1)} or pin a version with a wheel.",
                "A package with native code could not be compiled.",
            ))  # fmt: skip
    return out


def _npm_errors(ctx: Context) -> list[Finding]:
    out = []
    seen_404: set[str] = set()
    for n in ctx.lines_with("404", "Missing script"):
        line = ctx.lines[n]
        if m := _NPM_404.search(line):
            pkg = (m.group(1) or m.group(2) or m.group(3)).removesuffix("@*")
            if f"npm:404:{pkg}" in seen_404:
                ctx.claimed.add(n)
                continue
            seen_404.add(f"npm:404:{pkg}")
            out.append(_package_finding(
                ctx, f"npm package {pkg} not found in registry", f"package.json dependency {pkg}",
                f"npm:404:{pkg}", n, f"Fix the dependency name {pkg} in package.json.",
                "Dependency installation fails.",
            ))  # fmt: skip
        elif m := _NPM_SCRIPT.search(line):
            out.append(_package_finding(
                ctx, f"npm script '{m.group(1)}' is missing", f"package.json scripts.{m.group(1)}",
                f"npm:script:{m.group(1)}", n, f"Add a '{m.group(1)}' script to package.json or call the right one.",
                "The pipeline calls a script the package does not define.",
            ))  # fmt: skip
    return out


def _make_and_import_errors(ctx: Context) -> list[Finding]:
    out = []
    for n in ctx.lines_with("No rule to make target"):
        if m := _MAKE_RULE.search(ctx.lines[n]):
            out.append(_package_finding(
                ctx, f"make: no rule to make target '{m.group(1)}' (needed by '{m.group(2)}')",
                f"Makefile target {m.group(2)}", f"make:norule:{m.group(1)}", n,
                f"Create {m.group(1)} (or its source) or fix the prerequisites of '{m.group(2)}'.",
                "A prerequisite file is missing and make has no rule to build it.",
            ))  # fmt: skip
    for n in ctx.lines_with("No module named"):
        if n in ctx.claimed:
            continue
        if m := _NOMOD.search(ctx.lines[n]):
            out.append(_package_finding(
                ctx, f"ModuleNotFoundError: No module named '{m.group(1)}'", f"import {m.group(1)}",
                f"py:nomod:{m.group(1)}", n, f"Add {m.group(1).split('.')[0]} to the dependencies or fix the import.",
                "A module the code imports is not installed.",
            ))  # fmt: skip
    return out


_SUMMARIES = [  # (keyword prefilter, regex, title)
    (
        "*** [",
        re.compile(r"make(?:\[\d+\])?: \*\*\* \[(.+?)\] Error (\d+)"),
        "make target {0} failed (Error {1})",
    ),
    (
        "could not compile",
        re.compile(r"error: could not compile [`'](\S+?)['`]"),
        "cargo could not compile {0}",
    ),
    (
        "Failed to execute goal",
        re.compile(r"\[ERROR\] Failed to execute goal (\S+)"),
        "Maven goal {0} failed",
    ),
    ("BUILD FAIL", re.compile(r"^(?:\[INFO\] )?(BUILD FAILED|BUILD FAILURE)"), "{0}"),
    ("code ", re.compile(r"npm (?:ERR!|error) code (\w+)"), "npm failed with {0}"),
    (
        "No matching distribution",
        re.compile(r"ERROR: No matching distribution found for (\S+)"),
        "pip: no matching distribution for {0}",
    ),
    (
        "ld returned",
        re.compile(r"collect2: error: ld returned (\d+) exit status"),
        "link failed (ld exit {0})",
    ),
    (" error", re.compile(r"^([1-9]\d*) errors?$"), "{0} compile error(s)"),
    ("error: ", re.compile(r"error: (?:test failed|aborting due to .*)"), "cargo failed"),
    (
        "test failed",
        re.compile(r"configuration file (\S+) test failed"),
        "config test failed for {0}",
    ),
    ("FAILED", re.compile(r"> Task (\S+) FAILED"), "Gradle task {0} failed"),
    ("FAIL\t", re.compile(r"^FAIL\t(\S+)"), "go test package {0} failed"),
]


def build_summaries(ctx: Context) -> list[Finding]:
    """Closing lines of failed builds: cascade findings, used only if nothing else explains them."""
    out: dict[str, Finding] = {}
    for keyword, rx, fmt in _SUMMARIES:
        for n in ctx.lines_with(keyword):
            if n in ctx.claimed:
                continue
            line = ctx.lines[n].strip()
            m = rx.search(line)
            if m:
                title = fmt.format(*m.groups())
                key = f"summary:{mask(title)}"
                if not seen_again(out, key, [n]):
                    out[key] = Finding(
                        kind="error", title=title, severity="medium", key=key, lines=[n],
                        location=m.group(1) if m.groups() else None, detail="The build or job failed.",
                        fix="Read the first error above this line.", evidence_lines=[n], summary=True,
                    )  # fmt: skip
                ctx.claimed.add(n)
    return list(out.values())

"""Errors of PHP, Ruby and Tcl programs: PHP's "Fatal error: ... in file.php on line N", Ruby's
"file.rb:12:in 'method': message (ErrorClass)" / Rails' "ErrorClass (message):" with its
application backtrace, and Tcl's error with its errorInfo trace ("    while executing").
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding, mask, seen_again
from logmarketd.analysis.agents.blocks import block_end, claim

__all__ = ["php_errors", "ruby_errors", "tcl_errors"]

_PHP = re.compile(
    r"(?:PHP )?(Fatal error|Parse error|Warning|Recoverable fatal error):\s+(.+) in (\S+?\.php)(?::(\d+)| on line (\d+))\s*$"
)


def _php_ends(line: str) -> bool:
    """Not a line of a PHP stack trace: the end of the error's block."""
    return not line.startswith(("Stack trace:", "#", "  thrown in", "PHP Stack trace", "PHP  "))


def php_errors(ctx: Context) -> list[Finding]:
    """PHP fatal/parse errors and warnings at file:line."""
    found: dict[str, Finding] = {}
    for n in ctx.lines_with_ci("err"):
        line = ctx.lines[n]
        m = _PHP.search(line) if ".php" in line else None  # a literal of _PHP: far cheaper
        if not m or n in ctx.claimed:
            continue
        kind, msg, file, line = m.group(1), m.group(2).strip(), m.group(3), m.group(4) or m.group(5)
        lines = claim(ctx, n, block_end(ctx.lines, n + 1, _php_ends))
        key = f"php:{kind}:{file.rsplit('/', 1)[-1]}:{line}:{mask(msg)[:80]}"
        if seen_again(found, key, lines):
            continue
        found[key] = Finding(
            kind="error", title=f"PHP {kind}: {msg}", severity="medium" if kind == "Warning" else "high",
            key=key, lines=lines, location=f"{file}:{line}", detail=f"PHP {kind.lower()} in {file}.",
            root_cause=msg, fix=f"Fix the code at {file}:{line}.", evidence_lines=lines[:3],
        )  # fmt: skip
    return list(found.values())


_RUBY = re.compile(r"^(\S+\.rb):(\d+):in [`'](.+?)': (.+) \(([A-Z][\w:]*)\)$")
_RAILS = re.compile(r"^([A-Z][\w:]*(?:Error|Exception|NotFound|Invalid|Missing)\w*) \((.+)\):$")
_RB_FRAME = re.compile(r"^\s*(?:from )?((?:app|lib)/\S+\.rb|/\S+\.rb):(\d+):in [`'](.+?)'")


def _ruby_ends(line: str) -> bool:
    """Neither a Ruby frame nor blank: the end of the exception's frames."""
    return not (_RB_FRAME.match(line) or not line.strip())


def ruby_errors(ctx: Context) -> list[Finding]:
    """Uncaught Ruby exceptions and Rails errors at the first application frame."""
    found: dict[str, Finding] = {}
    starts: list[int] = []
    for n in ctx.lines_with(".rb:"):
        # a Rails error header ("NoMethodError (...):") sits a few lines above its first frame
        head = next(
            (k for k in range(n - 1, max(-1, n - 5), -1) if ctx.lines[k].rstrip().endswith("):")),
            None,
        )
        starts.append(head if head is not None and _RAILS.match(ctx.lines[head].strip()) else n)
    for n in sorted(set(starts)):
        if n in ctx.claimed:
            continue
        line = ctx.lines[n]
        if m := _RUBY.match(line.strip()):
            etype, msg, file, ln, func = m.group(5), m.group(4), m.group(1), m.group(2), m.group(3)
        elif m := _RAILS.match(line.strip()):
            etype, msg = m.group(1), m.group(2)
            frame = next(
                (
                    _RB_FRAME.match(ctx.lines[k])
                    for k in range(n + 1, min(n + 6, len(ctx.lines)))
                    if _RB_FRAME.match(ctx.lines[k])
                ),
                None,
            )
            if frame is None:
                continue
            file, ln, func = frame.group(1), frame.group(2), frame.group(3)
        else:
            continue
        lines = claim(ctx, n, block_end(ctx.lines, n + 1, _ruby_ends, limit=n + 60))
        key = f"ruby:{etype}:{file.rsplit('/', 1)[-1]}:{ln}"
        if seen_again(found, key):
            continue
        found[key] = Finding(
            kind="error", title=f"{etype}: {msg}", severity="high", key=key, lines=lines,
            location=f"{file}:{ln} in {func}", detail=f"Uncaught Ruby {etype}.", root_cause=f"{etype}: {msg} in {func}",
            fix=f"Handle the nil/invalid value in {func} ({file}:{ln}).", evidence_lines=lines[:3],
        )  # fmt: skip
    return list(found.values())


# Tcl's errorInfo: the message, then "    while executing" / "    invoked from within" lines
# quoting each command, with "(procedure "p" line N)" and "(file "x.tcl" line N)" frames
_TCL_TRACE = re.compile(r"^\s+(?:while executing|while evaluating|invoked from within)$")
_TCL_FRAME = re.compile(
    r'^\s+\((?:procedure "(?P<proc>[^"]+)"|file "(?P<file>[^"]+)") line (?P<line>\d+)\)$'
)


def _tcl_ends(line: str) -> bool:
    return not (line.startswith((" ", "\t", '"')) or _TCL_TRACE.match(line))


def tcl_errors(ctx: Context) -> list[Finding]:
    """A Tcl error: the line above its errorInfo trace, at the trace's script file:line."""
    out = []
    for n in ctx.lines_with("while executing", "while evaluating"):
        if n == 0 or n - 1 in ctx.claimed or not _TCL_TRACE.match(ctx.lines[n]):
            continue
        msg = ctx.lines[n - 1].strip()
        lines = claim(ctx, n - 1, block_end(ctx.lines, n + 1, _tcl_ends, limit=n + 60))
        proc = file = None
        for k in lines:
            if fm := _TCL_FRAME.match(ctx.lines[k]):
                proc = proc or fm.group("proc")
                file = f"{fm.group('file')}:{fm.group('line')}" if fm.group("file") else file
        out.append(Finding(
            kind="error", title=f"Tcl error: {msg[:200]}", severity="high",
            key=f"tcl:{mask(msg)[:120]}", lines=lines, location=file,
            detail="The Tcl script stopped with an error" + (f" in procedure {proc}." if proc else "."),
            root_cause=msg[:200] + (f" (in {proc})" if proc else ""),
            fix=f"Fix the command at {file}" + (f", procedure {proc}" if proc else "") + "." if file else None,
            evidence_lines=lines[:3],
        ))  # fmt: skip
    return out

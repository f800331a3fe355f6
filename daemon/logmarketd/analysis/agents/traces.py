"""Stack traces: Python, Java/JVM/.NET, JavaScript/Node (Go and Rust panics: ``panics``).

Each trace becomes one finding: the exception type and message, the innermost frame of the
application's own code (library and runtime frames skipped) as ``file:line``, and the frames
as evidence. Identical traces (same type, same place) are one finding with a count. Lines of a
trace are claimed so that the generic "ERROR line" detector does not report them again.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding

__all__ = [
    "java_js_traces",
    "python_syntax_errors",
    "python_tracebacks",
]


_PY_FRAME = re.compile(r'^\s*File "([^"]+)", line (\d+), in (\S+)')
_PY_EXC = re.compile(
    r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault|[A-Z]\w*))(?::\s*(.*))?$"
)
_PY_LIB = ("site-packages", "dist-packages", "/lib/python", "<frozen", "/usr/lib/", "importlib")
_CHAIN = ("During handling of the above exception", "The above exception was the direct cause")


def _short(path: str) -> str:
    """Last two path components: stable across checkouts in different directories."""
    parts = path.replace("\\", "/").rsplit("/", 2)
    return "/".join(parts[-2:])


def _merge(found: dict[str, Finding], f: Finding) -> None:
    """Same key: one finding, counted; its lines and evidence accumulate."""
    old = found.get(f.key)
    if old is None:
        found[f.key] = f
        return
    old.count += f.count
    old.lines.extend(f.lines)


def _claim_prefix_line(ctx: Context, start: int, lines: list[int]) -> None:
    """The log message just before a trace ("ERROR ... failed") belongs to that trace."""
    if start > 0:
        prev = ctx.lines[start - 1]
        if any(
            w in prev
            for w in ("ERROR", "Error", "error", "FATAL", "CRITICAL", "Exception", "SEVERE")
        ):
            lines.append(start - 1)
            ctx.claimed.add(start - 1)


# (exception type, message, innermost app frame (file, line, function), exception line)
_PyExc = tuple[str, str, tuple[str, int, str], int]


def python_tracebacks(ctx: Context) -> list[Finding]:
    """Python tracebacks (chains included): exception, message, innermost app frame."""
    found: dict[str, Finding] = {}
    skip_until = -1
    for start in ctx.lines_with("Traceback (most recent call last)"):
        if start <= skip_until or start in ctx.claimed:
            continue
        chain, covered = _py_chain(ctx, start)
        if not chain:
            continue
        skip_until = covered[-1]
        ctx.claimed.update(covered)
        _claim_prefix_line(ctx, start, covered)
        _merge(found, _py_finding(ctx, start, chain, covered))
    return list(found.values())


def _py_traceback(ctx: Context, i: int) -> _PyExc | None:
    """The traceback whose header is line ``i``: its exception and innermost app frame."""
    frames: list[tuple[str, int, str, int]] = []
    for j in range(i + 1, min(len(ctx.lines), i + 400)):
        line = ctx.lines[j]
        m = _PY_FRAME.match(line)
        if m:
            frames.append((m.group(1), int(m.group(2)), m.group(3), j))
        elif not (line.startswith((" ", "\t")) or not line.strip()):
            em = _PY_EXC.match(line.strip())
            if not (em and frames):
                return None
            app = [f for f in frames if not any(s in f[0] for s in _PY_LIB)]
            frame = (app or frames)[-1]
            return em.group(1), (em.group(2) or "").strip(), frame[:3], j
    return None


def _py_chain(ctx: Context, start: int) -> tuple[list[_PyExc], list[int]]:
    """The chain of tracebacks from ``start`` ("During handling...") and the lines it covers."""
    chain: list[_PyExc] = []
    covered: list[int] = []
    i = start
    while i < len(ctx.lines) and "Traceback (most recent call last)" in ctx.lines[i]:
        exc = _py_traceback(ctx, i)
        if exc is None:
            break
        chain.append(exc)
        covered.extend(range(i, exc[3] + 1))
        # a chained traceback follows after a blank line and a "During handling" line
        k = exc[3] + 1
        while k < len(ctx.lines) and k < exc[3] + 4 and not ctx.lines[k].strip():
            k += 1
        if not (k < len(ctx.lines) and ctx.lines[k].startswith(_CHAIN)):
            break
        k += 1
        while k < len(ctx.lines) and not ctx.lines[k].strip():
            k += 1
        i = k
    return chain, covered


def _py_finding(ctx: Context, start: int, chain: list[_PyExc], covered: list[int]) -> Finding:
    """The surfaced exception, located where the first one of the chain was raised."""
    etype, msg, _, exc_line = chain[-1]
    root_type, root_msg, (path, ln, func), _ = chain[0]
    root = f"{root_type}: {root_msg} raised in {func}() at {_short(path)}:{ln}"
    if len(chain) > 1:
        root += f", which then caused {etype}"
    frame_line = next(
        (n for n in covered if ctx.lines[n].strip().startswith(f'File "{path}", line {ln},')),
        start,
    )
    return Finding(
        kind="error",
        title=f"{etype}: {msg}" if msg else etype,
        severity="critical"
        if etype in ("MemoryError", "SystemError", "RecursionError")
        else "high",
        key=f"py:{etype}:{root_type}:{_short(path)}:{ln}",
        lines=covered,
        location=f"{path}:{ln} in {func}",
        detail=f"Uncaught Python {etype} stops the operation in {func}().",
        root_cause=root,
        fix=f"Handle or prevent {root_type} in {func}() at {_short(path)}:{ln}"
        " (validate the input or catch the specific exception).",
        evidence_lines=[start, frame_line, frame_line + 1, exc_line],
    )


_PY_SYNTAX_AT = re.compile(r'^\s*File "([^"]+)", line (\d+)$')
_PY_SYNTAX = re.compile(r"^(SyntaxError|IndentationError|TabError): (.+)$")


def python_syntax_errors(ctx: Context) -> list[Finding]:
    """A script that does not parse: Python prints the place and the error, with no traceback header."""
    found: dict[str, Finding] = {}
    for n in ctx.lines_with_ci("err"):
        m = _PY_SYNTAX.match(ctx.lines[n].strip())
        if not m or n in ctx.claimed:
            continue
        at = next(
            (
                (k, fm)
                for k in range(n - 1, max(-1, n - 6), -1)
                if (fm := _PY_SYNTAX_AT.match(ctx.lines[k]))
            ),
            None,
        )
        if at is None:
            continue
        k, fm = at
        lines = list(range(k, n + 1))
        ctx.claimed.update(lines)
        loc = f"{fm.group(1)}:{fm.group(2)}"
        f = Finding(
            kind="error", title=f"{m.group(1)}: {m.group(2)}", severity="high",
            key=f"py:{m.group(1)}:{_short(fm.group(1))}:{fm.group(2)}", lines=lines, location=loc,
            detail="The Python file does not parse; nothing in it runs.", root_cause=f"{m.group(1)} at {loc}",
            fix=f"Fix the syntax at {loc}.", evidence_lines=[k, k + 1, n],
        )  # fmt: skip
        _merge(found, f)
    return list(found.values())


# -- Java and JavaScript: an "Exception: message" line followed by "at ..." frames -------------
_JVM_EXC = re.compile(
    r'(?:Exception in thread "[^"]*" |Caused by: |Unhandled [Ee]xception[.:] |^\s*---> |^\s*)'
    r"((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*)(?::\s?(.*))?$"
)
_JS_EXC = re.compile(
    r"^\s*(?:\(node:\d+\) \w+: )?(?:Uncaught )?([A-Z]\w*(?:Error|Exception)|Error)(?: \[[\w-]+\])?: (.*)$"
)
_NET_FRAME = re.compile(r"^\s*at ([\w$.<>`\[\]]+)\.([\w$<>`]+)\(.*?\) in (.+?):line (\d+)")
_NET_LIB = ("System.", "Microsoft.")
_JVM_FRAME = re.compile(r"^\s*at (?:[\w.]+/)?([\w$.<>/]+)\.([\w$<>]+)\(([^():]+?)(?::(\d+))?\)")
_JS_FRAME = re.compile(r"^\s*at (?:(?:async )?(.+?) \()?((?:file://)?[^()\s]+?):(\d+):(\d+)\)?\s*$")
_JVM_LIB = (
    "java.", "javax.", "jdk.", "sun.", "com.sun.", "kotlin.", "scala.", "org.junit.", "junit.",
    "org.opentest4j.", "org.apache.maven.", "org.gradle.", "org.springframework.", "org.hibernate.",
    "io.netty.", "org.eclipse.jetty.", "org.apache.catalina.", "org.apache.tomcat.", "groovy.",
    "worker.org.gradle.", "jakarta.", "reactor.", "com.google.common.",
)  # fmt: skip


def _is_js_lib(path: str) -> bool:
    return (
        path.startswith(("node:", "internal/")) or "node_modules" in path or path == "<anonymous>"
    )


# (file, line, function, line index); a line index of -1 marks the start of a "Caused by"
_Frame = tuple[str, int, str, int]
_CAUSE_MARK: _Frame = ("", 0, "", -1)


def java_js_traces(ctx: Context) -> list[Finding]:
    """JVM, .NET and JavaScript exceptions with their 'at' frames; Caused-by chains."""
    found: dict[str, Finding] = {}
    done = -1
    frame_lines = ctx.lines_with("\tat ", "   at ")
    is_frame = set(frame_lines)
    for n in frame_lines:
        # only the first frame of a run starts a trace (walking up from every frame is quadratic)
        if n <= done or n in ctx.claimed or n == 0 or (n - 1) in is_frame:
            continue
        head = _trace_head(ctx, n)
        if head is None:
            continue
        h, lang, etype, msg = head
        frames, causes, end = _trace_body(ctx, n, lang)
        covered = list(range(h, end))
        done = end - 1
        app, root_type, root_msg = _trace_root(ctx, h, lang, frames, causes, etype, msg)
        if not app:
            continue
        ctx.claimed.update(covered)
        _claim_prefix_line(ctx, h, covered)
        # Node prints "file.js:N", the source line and a caret above the error: same finding
        for k in range(max(0, h - 5), h):
            if re.match(r"^(?:/|\w:|node:)\S*:\d+$", ctx.lines[k].strip()):
                covered.extend(range(k, h))
                ctx.claimed.update(range(k, h))
        file, line_no, func, frame_idx = app[0]
        short_type = etype.rsplit(".", 1)[-1]
        root = f"{root_type}: {root_msg}" if root_msg else root_type
        _merge(found, Finding(
            kind="error", title=f"{etype}: {msg}" if msg else etype,
            severity="critical" if "OutOfMemory" in etype else "high",
            key=f"{lang}:{etype}:{root_type}:{_short(file)}:{line_no}", lines=covered,
            location=f"{file}:{line_no}" + (f" in {func}" if func else ""),
            detail=f"Uncaught {short_type} thrown from {func or file}.",
            root_cause=f"{root} at {_short(file)}:{line_no}",
            fix=f"Guard the failing call in {func or file} ({_short(file)}:{line_no}) against this {root_type.rsplit('.', 1)[-1]}.",
            evidence_lines=[h, frame_idx] + ([causes[-1][2]] if causes else []),
        ))  # fmt: skip
    return list(found.values())


def _trace_head(ctx: Context, n: int) -> tuple[int, str, str, str] | None:
    """Walk up from the first frame ``n`` to the exception line: (its index, "js" or "jvm",
    exception type, message), or None when there is none."""
    h = n - 1
    while h >= 0 and (ctx.lines[h].lstrip().startswith("at ") or not ctx.lines[h].strip()):
        h -= 1
    if h < 0 or h in ctx.claimed:
        return None
    head = ctx.lines[h]
    m, lang = _JS_EXC.match(head), "js"
    if not m:
        m, lang = _JVM_EXC.search(head), "jvm"
    if not m:
        return None
    return h, lang, m.group(1), (m.group(2) or "").strip()


def _frame(line: str, lang: str, j: int) -> _Frame | None:
    """An application frame of a JVM, .NET or JavaScript stack (library frames: None)."""
    if lang == "jvm" and " in " in line and ":line " in line:
        nm = _NET_FRAME.match(line)
        if nm and not nm.group(1).startswith(_NET_LIB):
            return nm.group(3), int(nm.group(4)), f"{nm.group(1)}.{nm.group(2)}", j
    elif lang == "jvm":
        fm = _JVM_FRAME.match(line)
        if fm and not fm.group(1).startswith(_JVM_LIB):
            return fm.group(3), int(fm.group(4) or 0), f"{fm.group(1)}.{fm.group(2)}", j
    else:
        jm = _JS_FRAME.match(line)
        if jm and not _is_js_lib(jm.group(2)):
            return jm.group(2), int(jm.group(3)), jm.group(1) or "<anonymous>", j
    return None


def _trace_body(
    ctx: Context, n: int, lang: str
) -> tuple[list[_Frame], list[tuple[str, str, int]], int]:
    """From the first frame ``n``: the frames, the "Caused by:" sections (JVM) as (type,
    message, line), and the index of the first line after the trace."""
    frames: list[_Frame] = []
    causes: list[tuple[str, str, int]] = []
    j = n
    while j < len(ctx.lines):
        line = ctx.lines[j]
        s = line.strip()
        if s.startswith("at "):
            if (fr := _frame(line, lang, j)) is not None:
                frames.append(fr)
        elif s.startswith("Caused by: "):
            cm = _JVM_EXC.search(s)
            if cm:
                causes.append((cm.group(1), (cm.group(2) or "").strip(), j))
                frames.append(_CAUSE_MARK)  # frames after this belong to the cause
        elif not ((s.startswith("... ") and s.endswith("more")) or (
            lang == "js" and (s in ("{", "}") or re.match(r"^\s+\w+: ", line))
        )):  # fmt: skip
            break
        j += 1
    return frames, causes, j


def _trace_root(
    ctx: Context, h: int, lang: str, frames: list[_Frame], causes: list[tuple[str, str, int]],
    etype: str, msg: str,
) -> tuple[list[_Frame], str, str]:  # fmt: skip
    """The root cause (the last "Caused by", else the exception) and its app frames, first
    the location; for Node without app frames, the "file.js:N" header above the error."""
    if causes:
        idx = max(i for i, fr in enumerate(frames) if fr[3] == -1)
        root_frames = [fr for fr in frames[idx + 1 :] if fr[3] >= 0]
        root_type, root_msg = causes[-1][0], causes[-1][1]
    else:
        root_frames = [fr for fr in frames if fr[3] >= 0]
        root_type, root_msg = etype, msg
    app = root_frames or [fr for fr in frames if fr[3] >= 0]
    if not app and lang == "js":
        for k in range(h - 1, max(-1, h - 7), -1):
            hm = re.match(r"^(/\S+|\S+\.[cm]?[jt]sx?):(\d+)$", ctx.lines[k].strip())
            if hm:
                return [(hm.group(1), int(hm.group(2)), "<module>", k)], root_type, root_msg
    return app, root_type, root_msg

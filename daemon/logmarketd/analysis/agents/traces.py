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


def python_tracebacks(ctx: Context) -> list[Finding]:
    """Python tracebacks (chains included): exception, message, innermost app frame."""
    found: dict[str, Finding] = {}
    skip_until = -1
    for start in ctx.lines_with("Traceback (most recent call last)"):
        if start <= skip_until or start in ctx.claimed:
            continue
        chain: list[tuple[str, str, tuple[str, int, str] | None, int]] = []
        covered: list[int] = []
        i = start
        while i < len(ctx.lines) and "Traceback (most recent call last)" in ctx.lines[i]:
            frames: list[tuple[str, int, str, int]] = []
            j = i + 1
            exc: tuple[str, str, int] | None = None
            while j < len(ctx.lines) and j < i + 400:
                line = ctx.lines[j]
                m = _PY_FRAME.match(line)
                if m:
                    frames.append((m.group(1), int(m.group(2)), m.group(3), j))
                elif line.startswith((" ", "\t")) or not line.strip():
                    pass
                else:
                    em = _PY_EXC.match(line.strip())
                    if em and frames:
                        exc = (em.group(1), (em.group(2) or "").strip(), j)
                    break
                j += 1
            if exc is None:
                break
            app = [f for f in frames if not any(s in f[0] for s in _PY_LIB)]
            frame = (app or frames)[-1]
            chain.append((exc[0], exc[1], (frame[0], frame[1], frame[2]), exc[2]))
            covered.extend(range(i, exc[2] + 1))
            # a chained traceback follows after a blank line and a "During handling" line
            k = exc[2] + 1
            while k < len(ctx.lines) and k < exc[2] + 4 and not ctx.lines[k].strip():
                k += 1
            if k < len(ctx.lines) and ctx.lines[k].startswith(_CHAIN):
                k += 1
                while k < len(ctx.lines) and not ctx.lines[k].strip():
                    k += 1
                i = k
                continue
            break
        if not chain:
            continue
        skip_until = covered[-1]
        first, last = chain[0], chain[-1]
        etype, msg, where, exc_line = last
        root_type, root_msg, root_where, _ = first
        assert root_where is not None and where is not None
        loc = f"{root_where[0]}:{root_where[1]} in {root_where[2]}"
        ctx.claimed.update(covered)
        _claim_prefix_line(ctx, start, covered)
        root = f"{root_type}: {root_msg} raised in {root_where[2]}() at {_short(root_where[0])}:{root_where[1]}"
        if len(chain) > 1:
            root += f", which then caused {etype}"
        frame_line = next(
            (
                n
                for n in covered
                if ctx.lines[n].strip().startswith(f'File "{root_where[0]}", line {root_where[1]},')
            ),
            start,
        )
        f = Finding(
            kind="error",
            title=f"{etype}: {msg}" if msg else etype,
            severity="critical"
            if etype in ("MemoryError", "SystemError", "RecursionError")
            else "high",
            key=f"py:{etype}:{root_type}:{_short(root_where[0])}:{root_where[1]}",
            lines=covered,
            location=loc,
            detail=f"Uncaught Python {etype} stops the operation in {root_where[2]}().",
            root_cause=root,
            fix=f"Handle or prevent {root_type} in {root_where[2]}() at {_short(root_where[0])}:{root_where[1]}"
            " (validate the input or catch the specific exception).",
            evidence_lines=[start, frame_line, frame_line + 1, exc_line],
        )
        _merge(found, f)
    return list(found.values())


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
        # walk up from the first frame to the exception line
        h = n - 1
        while h >= 0 and (ctx.lines[h].lstrip().startswith("at ") or not ctx.lines[h].strip()):
            h -= 1
        if h < 0 or h in ctx.claimed:
            continue
        head = ctx.lines[h]
        m = _JS_EXC.match(head)
        lang = "js"
        if not m:
            m = _JVM_EXC.search(head)
            lang = "jvm"
        if not m:
            continue
        etype, msg = m.group(1), (m.group(2) or "").strip()
        # frames, and "Caused by:" sections for the JVM
        frames: list[tuple[str, int, str, int]] = []  # file, line, function, line index
        covered = list(range(h, n))
        causes: list[tuple[str, str, int]] = []
        j = n
        while j < len(ctx.lines):
            line = ctx.lines[j]
            s = line.strip()
            if s.startswith("at "):
                if lang == "jvm" and " in " in line and ":line " in line:
                    nm = _NET_FRAME.match(line)
                    if nm and not nm.group(1).startswith(_NET_LIB):
                        frames.append(
                            (nm.group(3), int(nm.group(4)), f"{nm.group(1)}.{nm.group(2)}", j)
                        )
                elif lang == "jvm":
                    fm = _JVM_FRAME.match(line)
                    if fm and not fm.group(1).startswith(_JVM_LIB):
                        cls = fm.group(1)
                        frames.append(
                            (fm.group(3), int(fm.group(4) or 0), f"{cls}.{fm.group(2)}", j)
                        )
                else:
                    jm = _JS_FRAME.match(line)
                    if jm and not _is_js_lib(jm.group(2)):
                        frames.append(
                            (jm.group(2), int(jm.group(3)), jm.group(1) or "<anonymous>", j)
                        )
            elif s.startswith("Caused by: "):
                cm = _JVM_EXC.search(s)
                if cm:
                    causes.append((cm.group(1), (cm.group(2) or "").strip(), j))
                    frames.append(("", 0, "", -1))  # marker: frames after this belong to the cause
            elif (s.startswith("... ") and s.endswith("more")) or (
                (lang == "js" and s in ("{", "}"))
                or (lang == "js" and re.match(r"^\s+\w+: ", line))
            ):
                pass
            else:
                break
            covered.append(j)
            j += 1
        done = j - 1
        # the root cause is the last "Caused by"; its first app frame is the location
        if causes:
            idx = max(i for i, fr in enumerate(frames) if fr[3] == -1)
            root_frames = [fr for fr in frames[idx + 1 :] if fr[3] >= 0]
            root_type, root_msg = causes[-1][0], causes[-1][1]
        else:
            root_frames = [fr for fr in frames if fr[3] >= 0]
            root_type, root_msg = etype, msg
        app = root_frames or [fr for fr in frames if fr[3] >= 0]
        if not app:
            # all frames are library frames: fall back to the Node header "file.js:N" if any
            if lang == "js":
                for k in range(h - 1, max(-1, h - 7), -1):
                    hm = re.match(r"^(/\S+|\S+\.[cm]?[jt]sx?):(\d+)$", ctx.lines[k].strip())
                    if hm:
                        app = [(hm.group(1), int(hm.group(2)), "<module>", k)]
                        break
            if not app:
                continue
        file, line_no, func, frame_idx = app[0]
        loc = f"{file}:{line_no}" + (f" in {func}" if func else "")
        ctx.claimed.update(covered)
        _claim_prefix_line(ctx, h, covered)
        # Node prints "file.js:N", the source line and a caret above the error: same finding
        for k in range(max(0, h - 5), h):
            if re.match(r"^(?:/|\w:|node:)\S*:\d+$", ctx.lines[k].strip()):
                covered.extend(range(k, h))
                ctx.claimed.update(range(k, h))
        short_type = etype.rsplit(".", 1)[-1]
        root = f"{root_type}: {root_msg}" if root_msg else root_type
        f = Finding(
            kind="error",
            title=f"{etype}: {msg}" if msg else etype,
            severity="critical" if "OutOfMemory" in etype else "high",
            key=f"{lang}:{etype}:{root_type}:{_short(file)}:{line_no}",
            lines=covered,
            location=loc,
            detail=f"Uncaught {short_type} thrown from {func or file}.",
            root_cause=f"{root} at {_short(file)}:{line_no}",
            fix=f"Guard the failing call in {func or file} ({_short(file)}:{line_no}) against this {root_type.rsplit('.', 1)[-1]}.",
            evidence_lines=[h, frame_idx] + ([causes[-1][2]] if causes else []),
        )
        _merge(found, f)
    return list(found.values())

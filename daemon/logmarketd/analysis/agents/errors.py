"""Error Detective's own detectors: crashes, OOM kills, HTTP 5xx bursts and leveled error
lines. The agent itself, with the order of all its detectors, is declared in
``logmarketd.analysis.agents.registry``.
"""

from __future__ import annotations

import re
from collections import defaultdict

from logmarketd.analysis.agents.access import endpoint, requests
from logmarketd.analysis.agents.base import Context, Finding, mask, seen_again, shape
from logmarketd.analysis.agents.leveled import locate
from logmarketd.analysis.agents.quality import lint_entry
from logmarketd.analysis.agents.structured import structured_error

__all__ = ["crashes", "exit_context", "http_5xx", "leveled_errors", "tool_failures"]


_CRASH = [
    (
        re.compile(r"[Oo]ut of memory: Kill(?:ed)? process (\d+) \(([^)]+)\)"),
        "OOM killer killed {1}",
        "critical",
    ),
    (re.compile(r"oom-kill(?:er)?\b.*?task=([\w.-]+)"), "OOM killer killed {0}", "critical"),
    (re.compile(r"\bOOMKilled\b"), "container OOMKilled", "critical"),
    (
        re.compile(r"FATAL ERROR: (.*?JavaScript heap out of memory)"),
        "Node.js crashed: {0}",
        "critical",
    ),
    (
        re.compile(r"(Segmentation fault|Aborted|Bus error)(?: \(core dumped\))?"),
        "process crashed: {0}",
        "critical",
    ),
    (re.compile(r"\b(SIG(?:SEGV|ABRT|BUS|ILL|FPE))\b"), "process crashed with {0}", "critical"),
    (
        re.compile(r"terminate called after throwing an instance of '([^']+)'"),
        "C++ abort: uncaught {0}",
        "critical",
    ),
    (re.compile(r"fatal error: runtime: out of memory"), "Go runtime out of memory", "critical"),
    (
        re.compile(r"memory allocation of (\d+) bytes failed"),
        "Rust allocation of {0} bytes failed",
        "critical",
    ),
    (
        re.compile(r"Back-off restarting failed container|\bCrashLoopBackOff\b"),
        "container crash loop",
        "critical",
    ),
    (
        re.compile(r"systemd\[\d+\]: Failed to start (.+?)\.?$"),
        "systemd failed to start {0}",
        "high",
    ),
]
_CRASH_KEYS = (
    "Segmentation fault", "Aborted", "Bus error", "SIG", "terminate called", "Back-off restarting",
    "CrashLoopBackOff", "Failed to start ",
)  # fmt: skip
_EXIT = re.compile(
    r"(?:exit(?:ed)?(?: with)?(?: exit)? (?:status|code)|exit status|returned non-zero exit status|"
    r"Process finished with exit code|Process completed with exit code|failed with exit code|status=)[ :=]*(\d+)"
)
_BENIGN_EXIT = ("logical replication launcher", "exit code 0", "status 0")


def _finding(
    title: str,
    sev: str,
    key: str,
    lines: list[int],
    loc: str | None,
    detail: str,
    fix: str,
    summary: bool = False,
) -> Finding:
    return Finding(
        kind="error", title=title, severity=sev, key=key, lines=lines, location=loc,  # type: ignore[arg-type]
        detail=detail, root_cause=title, fix=fix, evidence_lines=lines[:3], summary=summary,
    )  # fmt: skip


# What a C library or runtime prints just before it aborts the process: the abort is its echo.
_ABORT_CAUSE = re.compile(
    r"^\*\*\* .{4,80} \*\*\*|^terminate called after throwing|^Assertion .* failed\.?$|: Assertion `"
)


def _said_why(ctx: Context, n: int) -> bool:
    """Whether one of the three lines before the crash line ``n`` says why it crashed."""
    return any(_ABORT_CAUSE.search(ctx.lines[k]) for k in range(max(0, n - 3), n))


# A native stack frame (gdb, lldb, sanitizers): "#1 0x... in parse_header (line=...) at
# parser.c:10", "#0 0x4f in main /src/app.c:17:5"
_NATIVE_FRAME = re.compile(
    r"^\s*#\d+\s+(?:0x[0-9a-f]+ in )?(?P<fn>[\w:~<>.]+) (?:\(.*\) at )?(?P<file>[^\s:()]+\.\w+):(?P<line>\d+)"
)
_SYSTEM_SOURCE = ("../sysdeps/", "../csu/", "/usr/", "/build/", "./nptl/", "../nptl/")


def _native_frame(ctx: Context, n: int) -> tuple[str, str] | None:
    """(function, file:line) of the first frame of the program's own code in the native
    backtrace within 30 lines after the crash line ``n``, or None."""
    for k in range(n + 1, min(n + 31, len(ctx.lines))):
        m = _NATIVE_FRAME.match(ctx.lines[k])
        if m and not m.group("file").startswith(_SYSTEM_SOURCE):
            return m.group("fn"), f"{m.group('file')}:{m.group('line')}"
    return None


def _echoes_crash(out: dict[str, Finding], n: int, status: int) -> bool:
    """Whether exit status ``status`` at line ``n`` is a crash's own echo: a shell's 128 + the
    signal ("exit status: 134" after "Aborted") within three lines after a crash found. The
    line joins that crash's finding."""
    if status <= 128:
        return False
    for f in out.values():
        if f.key.startswith("crash:") and any(n - 3 <= k < n for k in f.lines):
            f.lines.append(n)
            return True
    return False


def crashes(ctx: Context) -> list[Finding]:
    """Crashes (signals, OOM kills, heap exhaustion, crash loops) and non-zero exits (cascade)."""
    out: dict[str, Finding] = {}
    for n in ctx.lines_any(cs=_CRASH_KEYS, ci=("mem", "oom")):  # "mem", "oom": shared with memory
        line = ctx.lines[n]
        for rx, fmt, sev in _CRASH:
            m = rx.search(line)
            if m:
                title = fmt.format(*m.groups()) if m.groups() else fmt
                key = f"crash:{mask(title)}"
                if not seen_again(out, key, [n]):
                    proc = m.group(2) if rx is _CRASH[0][0] else None
                    if proc is None and "JavaScript heap" in line:
                        proc = "Node.js V8 heap (--max-old-space-size)"
                    elif proc is None and (
                        cmd := re.search(
                            r"(?:core dumped\)|fault|Aborted)\s+(\.?/\S+|\w[\w.-]*)$", line
                        )
                    ):
                        proc = cmd.group(
                            1
                        )  # bash: "line 1: 4242 Segmentation fault (core dumped) ./app"
                    frame = _native_frame(ctx, n)
                    out[key] = _finding(
                        title, sev, key, [n], frame[1] if frame else proc,
                        "The process died; work in flight is lost.",
                        "Find the allocation or fault that killed it (memory limit, leak, native bug).",
                        summary=_said_why(ctx, n),
                    )  # fmt: skip
                    if frame:
                        out[key].root_cause = f"{title} in {frame[0]} ({frame[1]})"
                ctx.claimed.add(n)
                break
    for n in ctx.lines_with("exit", "status="):
        line = ctx.lines[n]
        m = _EXIT.search(line)
        if not m or m.group(1) == "0" or any(b in line for b in _BENIGN_EXIT) or n in ctx.claimed:
            continue
        title = f"process exited with status {m.group(1)}"
        key = f"exit:{m.group(1)}"
        if _echoes_crash(out, n, int(m.group(1))) or seen_again(out, key, [n]):
            continue
        out[key] = _finding(
            title, "medium", key, [n], None, "A step ended with a failure status.",
            "Look at the first error before this line.", summary=True,
        )  # fmt: skip
    return list(out.values())


_EXC_LINE = re.compile(r"^(?:[\w.]+\.)?[A-Z]\w*(?:Error|Exception)\b(?::.*)?$")


def _last_words(ctx: Context, n: int) -> tuple[int, str | None] | None:
    """(line, command) of what a program printed last before the exit status at line ``n``:
    the nearest line above that is not blank, not a shell's trace of a command ("+ cmd") and
    not another exit status, within six lines; with the traced command, when there is one."""
    for k in range(n - 1, max(-1, n - 7), -1):
        line = ctx.lines[k]
        if not line.strip() or _EXIT.search(line):
            continue
        if line.startswith("+ "):
            return None  # the command printed nothing
        cmd = next(
            (ctx.lines[j][2:].strip() for j in range(k - 1, max(-1, k - 8), -1) if ctx.lines[j].startswith("+ ")),
            None,
        )  # fmt: skip
        return k, cmd
    return None


EXPLAINED_WITHIN = 30  # lines above an exit status in which a finding explains the failure


def exit_context(ctx: Context) -> list[Finding]:
    """A program's last words before a non-zero exit status, when no finding explained them:
    whatever the tool, what it printed just before it failed says why ("Expecting ','
    delimiter: line 4 column 3", "rotate.sh: 7: Syntax error: end of file unexpected")."""
    out: dict[str, Finding] = {}
    for n in ctx.lines_with("exit", "status="):
        m = _EXIT.search(ctx.lines[n])
        if (
            not m
            or m.group(1) == "0"
            or int(m.group(1)) > 128
            or any(b in ctx.lines[n] for b in _BENIGN_EXIT)
        ):
            continue  # (above 128: killed by a signal, which its last words do not explain)
        said = _last_words(ctx, n)
        if said is None or any(j in ctx.claimed for j in range(max(0, n - EXPLAINED_WITHIN), n)):
            continue  # a failure a finding just above explains: the exit is its echo
        k, cmd = said
        msg = ctx.lines[k].strip()
        key = f"exit-said:{shape(msg, ids=True)[:160]}"
        if seen_again(out, key, [k, n]):
            continue
        out[key] = _finding(
            msg[:200], "high", key, [k, n], locate(msg) or cmd,
            f"{'`' + cmd + '`' if cmd else 'A command'} failed with exit status {m.group(1)}; its last words say why.",
            f"Fix what it names{' (' + (locate(msg) or '') + ')' if locate(msg) else ''}, then run {cmd or 'it'} again.",
        )  # fmt: skip
    return list(out.values())


def _exception_before(ctx: Context, n: int) -> str | None:
    """The exception logged just before a 5xx response: most likely what made it fail."""
    for k in range(n - 1, max(-1, n - 30), -1):
        s = ctx.lines[k].strip()
        if _EXC_LINE.match(s):
            return s[:160]
        if '" 2' in s or '" 3' in s:  # an earlier successful request: stop looking
            return None
    return None


def http_5xx(ctx: Context) -> list[Finding]:
    """Bursts of 5xx answers per endpoint in access logs (ids masked), or spread over many."""
    per: dict[str, list[int]] = defaultdict(list)
    total = 0
    for r in requests(ctx):
        total += 1
        if r.status >= 500:
            per[f"{endpoint(r)} -> {r.status}"].append(r.index)
    out = []
    spread = [i for ep, idx in per.items() if len(idx) < ctx.config.http_5xx_burst for i in idx]
    if len(spread) >= 10 and len(spread) >= 0.05 * total:
        # many endpoints failing a little each: one finding for the service as a whole
        per = {**per, "all endpoints -> 5xx": sorted(spread)}
    for ep, idx in per.items():
        if len(idx) < ctx.config.http_5xx_burst:
            continue
        route, status = ep.rsplit(" -> ", 1)
        cause = _exception_before(ctx, idx[0])
        share = 100.0 * len(idx) / max(1, total)
        out.append(
            Finding(
                kind="error", title=f"HTTP {status} burst on {route} ({len(idx)} responses)",
                severity="critical" if len(idx) >= 50 or share >= 50 else "high", key=f"5xx:{ep}", lines=idx,
                location=route, detail=f"{len(idx)} of {total} requests ({share:.0f}%) failed with {status}.",
                root_cause=f"{route} returns {status}" + (f" after {cause}" if cause else ": the handler fails (see its server-side error)"),
                fix=f"Fix the server error behind {route}; add a test for the failing input.",
                count=len(idx), evidence_lines=idx[:3],
            )
        )  # fmt: skip
    return out


_LEVEL = re.compile(
    r"(?:^|[\s\[|<(\"=])(FATAL|CRITICAL|CRIT|SEVERE|ERROR|EMERG|ALERT|PANIC|ERR)(?:[\]\s:|>)\",]|$)"
    r"|^(error|fatal|Error|Fatal|ERROR|FATAL)(?:\[\w+\])?: "
    r"|\blevel=(error|fatal|crit)\b|\"level\": ?\"(error|fatal|critical)\""
    r"|\[(error|crit|alert|emerg)\]"
)
# _LEVEL can match only on a line holding one of these (case-sensitive) or starting with one
# of _LEVEL_HEADS: the lines it need not be tried on are found from the cached scans
_LEVEL_WORDS = ("ERR", "FATAL", "CRIT", "SEVERE", "EMERG", "ALERT", "PANIC", "level=", '"level":',
                "[error]", "[crit]", "[alert]", "[emerg]")  # fmt: skip
_LEVEL_HEADS = ("error", "fatal", "Error", "Fatal")
_LEVEL_KEYS = (
    "err",
    "fatal",
    "crit",
    "severe",
    "emerg",
    "alert",
    "panic",
    "level",
    "lvl=",
)  # any case
# one-letter levels: Android logcat ("... 1702  2395 E Tag: msg") and glog ("E1128 05:00:00.123 42 f.go:7] msg")
_LETTER = re.compile(
    r"^\d\d-\d\d \d\d:\d\d:\d\d\.\d+\s+\d+\s+\d+ (?P<l>[EF]) (?P<c>[^:]+?)\s*: (?P<m>.*)$"
    r"|^(?P<gl>[EF])\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ (?P<gc>[\w./-]+:\d+)\] (?P<gm>.*)$"
)
_MILD = re.compile(r"\b(?:INFO|DEBUG|TRACE|NOTICE|WARN|WARNING|info|debug)\b")
_BOILERPLATE = re.compile(
    r"To see the full stack trace|Re-run Maven|For more information about the errors|\[Help \d+\]|Please refer to|"
    r"^\[ERROR\]\s*$|^\[ERROR\] +(?:Failures|Errors|Tests run):|-> \[Help|A complete log of this run|"
    r"npm (?:ERR!|error) (?:code|path|errno|syscall|command|cwd|signal|Lifecycle script|workspace|location|\s*$)"
)
_CASCADE = re.compile(
    r"\b(build|job|step|task|deploy\w*|command|process|pipeline|tests?)\b.{0,20}\b(failed|failure|aborted)\b|exit(ed)? (code|status)|\bStop\.$",
    re.I,
)


_UPSTREAM = re.compile(r'upstream: "([^"]+)"')
# A web server's error log line about a client it refused (nginx, Apache httpd): logged at
# error level, but the server did its job; what it says is the Security Guardian's to judge.
_CLIENT = re.compile(r"\bclient: [\d.:a-fA-F\[]|\[client [\d.:a-fA-F\[]")
_CLIENT_REFUSED = re.compile(
    r"password mismatch|was not found in \"|not found in user file|user \S+ not found|"
    r"access forbidden|forbidden by rule|is forbidden|denied|limiting (?:requests|connections)|"
    r"authentication failure|AH01797|AH01630|AH01618|AH01617",
    re.I,
)
_REQUEST = re.compile(r'request: "([A-Z]+ \S+)')


def _component(line: str, start: int, end: int) -> str | None:
    if 'upstream: "' in line or 'request: "' in line:
        um = _UPSTREAM.search(line) or _REQUEST.search(line)
        if um:
            return um.group(1)
    after = line[end:].strip().split(" ", 1)[0].strip("[]():")
    before = line[:start].split()
    if (
        after
        and ("." in after or line[end:].strip().startswith("[") or after.endswith(":"))
        and not after[0].isdigit()
    ):
        return after
    if before and before[-1].isupper() and before[-1].isalpha():
        return before[-1]
    if after and after.isidentifier():
        return after
    return None


def _plain_level(line: str) -> tuple[str, str, str | None] | None:
    """(LEVEL, message, component) of a plain-text ERROR/FATAL line, None when it is none
    (no level word, boilerplate, a refused client, a linter entry, a milder level first)."""
    m = _LEVEL.search(line)
    if not m or _BOILERPLATE.search(line) or line.lstrip().startswith("{"):
        return None
    if _CLIENT_REFUSED.search(line, m.end()) and _CLIENT.search(line, m.end()):
        return None  # a web server refused a client: the Security Guardian's, no failure
    if lint_entry(line) is not None:
        return None  # a linter's report entry: the Quality Inspector's, no failure
    if _MILD.search(line, 0, m.start()):
        return None  # "INFO ... no ERROR found": the line's own level comes first
    level = next(g for g in m.groups() if g).upper()
    return level, line[m.end() :].strip(" :-|]"), _component(line, m.start(), m.end())


def leveled_errors(ctx: Context) -> list[Finding]:
    """ERROR/FATAL lines that no specific detector explained, one finding per message template."""
    groups: dict[str, Finding] = {}
    letter = {n for n in ctx.lines_with(" E ", " F ", "E0", "E1") if _LETTER.match(ctx.lines[n])}
    leveled = set(ctx.lines_with(*_LEVEL_WORDS))
    for n in sorted(letter.union(ctx.lines_with_ci(*_LEVEL_KEYS))):
        if n in ctx.claimed:
            continue
        line = ctx.lines[n]
        stacked = False
        lm = _LETTER.match(line) if n in letter else None
        parsed = structured_error(line) if lm is None and ("{" in line or "=" in line) else None
        if lm:
            level = "FATAL" if (lm.group("l") or lm.group("gl")) == "F" else "ERROR"
            msg, comp = (
                (lm.group("m") or lm.group("gm") or "").strip(),
                lm.group("c") or lm.group("gc"),
            )
        elif parsed is not None:
            level, msg, comp, stacked = parsed
        elif n in leveled or line.startswith(_LEVEL_HEADS):
            plain = _plain_level(line)
            if plain is None:
                continue
            level, msg, comp = plain
        else:
            continue  # _LEVEL cannot match
        if not msg:
            continue
        key = f"level:{shape(comp or '', ids=True)}:{shape(msg, ids=True)[:160]}"
        f = groups.get(key)
        if f is not None:
            f.count += 1
            f.lines.append(n)
            if len(f.evidence_lines) < 3:
                f.evidence_lines.append(n)
            continue
        sev = (
            "critical"
            if level in ("FATAL", "EMERG", "PANIC", "ALERT")
            else "high"
            if level in ("CRITICAL", "CRIT", "SEVERE")
            else "medium"
        )
        if stacked:  # a logged exception with its trace: as good as a traceback
            sev = "critical" if sev == "critical" else "high"
        groups[key] = Finding(
            kind="error", title=f"{level}: {msg[:200]}", severity=sev, key=key, lines=[n],  # type: ignore[arg-type]
            location=comp, detail=f"{level} logged by {comp or 'the application'}.",
            root_cause=msg[:200] if stacked else None,
            fix=f"Handle the exception raised at {comp}." if stacked and comp else None, evidence_lines=[n],
            # in build and test output, ERROR lines after a located error are that error's echo
            summary=ctx.source in ("build", "test") or bool(_CASCADE.search(msg)), generic=True,
        )  # fmt: skip
    return list(groups.values())


# A tool's own failure line, whatever the tool: "rsync: [sender] change_dir "x" failed: No such
# file or directory (2)", "tar: ids.txt: Cannot write: No space left on device", "cp: cannot
# stat 'a': ...". The tool names itself first; the words say what failed.
_TOOL_FAIL = re.compile(
    r"^(?P<tool>[A-Za-z][\w.+-]{1,30})(?:\[\d+\])?: (?:\[[\w ]{1,20}\] )?"
    r"(?P<msg>.{0,200}?\b(?:failed|[Cc]annot|[Cc]an't|[Cc]ould not|[Uu]nable to|not installed|"
    r"[Nn]o such file or directory|[Pp]ermission denied|is full|[Nn]o space left|"
    r"[Cc]onnection refused|[Nn]ot a directory|[Ii]nput/output error)\b.{0,200})$"
)
# a tool's line that only repeats that something failed before it
_ECHO = re.compile(
    r"previous errors|due to previous|see previous|[Ee]xiting with failure status|\b0 failed\b"
)
_FAIL_KEYS = ("failed", "annot", "an't", "ould not", "nable to", "not installed", "o such file",
              "ermission denied", "is full", "o space left", "onnection refused", "ot a directory",
              "nput/output error")  # fmt: skip


def tool_failures(ctx: Context) -> list[Finding]:
    """Failure lines a tool printed under its own name that nothing more specific explained,
    one finding per tool and message shape."""
    groups: dict[str, Finding] = {}
    for n in ctx.lines_with(*_FAIL_KEYS):
        if n in ctx.claimed:
            continue
        line = ctx.lines[n]
        m = _TOOL_FAIL.match(line)
        if m is None or _ECHO.search(line) or _MILD.match(m.group("msg")):
            continue
        tool, msg = m.group("tool"), m.group("msg").strip()
        key = f"tool-fail:{tool}:{shape(msg, ids=True)[:160]}"
        if seen_again(groups, key, [n]):
            continue
        groups[key] = Finding(
            kind="error", title=f"{tool}: {msg[:200]}", severity="medium", key=key, lines=[n],
            location=_quoted_path(msg) or locate(msg), detail=f"{tool} reported a failure.",
            evidence_lines=[n], generic=True,
        )  # fmt: skip
    return list(groups.values())


_QUOTED_PATH = re.compile(r"[\"'‘`]((?:/|\.{1,2}/|[\w.-]+/)[^\"'’`\s]+|[\w.-]+\.\w{1,8})[\"'’`]")


def _quoted_path(msg: str) -> str | None:
    m = _QUOTED_PATH.search(msg)
    return m.group(1) if m else None

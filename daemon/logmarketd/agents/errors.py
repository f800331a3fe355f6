"""Error Detective: crashes, OOM kills, HTTP 5xx bursts, deploy failures and leveled error
lines, plus the agent that runs every error detector in order (tests, then deploy and crash
rules, then compilers, then stack traces, then the generic ERROR/FATAL lines, then the tools'
closing lines as cascade-only findings).
"""

from __future__ import annotations

import re
from collections import defaultdict

from logmarketd.agents import builds, scripting, shell, testfail, traces
from logmarketd.agents.access import endpoint, requests
from logmarketd.agents.base import Agent, Context, Finding, mask
from logmarketd.agents.structured import structured_error

__all__ = ["ERROR_DETECTIVE", "crashes", "deploy_failures", "http_5xx", "leveled_errors"]

AGENT = "error-detective"

_CRASH = [
    (
        re.compile(r"Out of memory: Kill(?:ed)? process (\d+) \(([^)]+)\)"),
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
    "ut of memory", "oom-kill", "OOMKilled", "Segmentation fault", "Aborted", "Bus error", "SIG",
    "terminate called", "memory allocation of", "Back-off restarting", "CrashLoopBackOff", "Failed to start ",
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
        kind="error", agent_id=AGENT, title=title, severity=sev, key=key, lines=lines, location=loc,  # type: ignore[arg-type]
        detail=detail, root_cause=title, fix=fix, evidence_lines=lines[:3], summary=summary,
    )  # fmt: skip


def crashes(ctx: Context) -> list[Finding]:
    out: dict[str, Finding] = {}
    for n in ctx.lines_with(*_CRASH_KEYS):
        line = ctx.lines[n]
        for rx, fmt, sev in _CRASH:
            m = rx.search(line)
            if m:
                title = fmt.format(*m.groups()) if m.groups() else fmt
                key = f"crash:{mask(title)}"
                if key in out:
                    out[key].count += 1
                    out[key].lines.append(n)
                else:
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
                    out[key] = _finding(
                        title, sev, key, [n], proc, "The process died; work in flight is lost.",
                        "Find the allocation or fault that killed it (memory limit, leak, native bug).",
                    )  # fmt: skip
                ctx.claimed.add(n)
                break
    for n in ctx.lines_with("exit", "status="):
        line = ctx.lines[n]
        m = _EXIT.search(line)
        if not m or m.group(1) == "0" or any(b in line for b in _BENIGN_EXIT) or n in ctx.claimed:
            continue
        title = f"process exited with status {m.group(1)}"
        key = f"exit:{m.group(1)}"
        if key in out:
            out[key].count += 1
            out[key].lines.append(n)
            continue
        out[key] = _finding(
            title, "medium", key, [n], None, "A step ended with a failure status.",
            "Look at the first error before this line.", summary=True,
        )  # fmt: skip
    return list(out.values())


def http_5xx(ctx: Context) -> list[Finding]:
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
        share = 100.0 * len(idx) / max(1, total)
        out.append(
            Finding(
                kind="error", agent_id=AGENT, title=f"HTTP {status} burst on {route} ({len(idx)} responses)",
                severity="critical" if len(idx) >= 50 or share >= 50 else "high", key=f"5xx:{ep}", lines=idx,
                location=route, detail=f"{len(idx)} of {total} requests ({share:.0f}%) failed with {status}.",
                root_cause=f"{route} returns {status}: the handler fails (see its server-side error)",
                fix=f"Fix the server error behind {route}; add a test for the failing input.",
                count=len(idx), evidence_lines=idx[:3],
            )
        )  # fmt: skip
    return out


_EMERG = re.compile(r"\[emerg\] (?:\d+#\d+: )?(.+?) in (\S+?):(\d+)$")
_APACHE = re.compile(r"(AH\d+): Syntax error on line (\d+) of (\S+?):?$")
_SQLITE = re.compile(r"(?:Parse|Runtime) error near line (\d+): (.+)|^Error: near line (\d+): (.+)")
_PSQL = re.compile(r"psql:(\S+?):(\d+): ERROR: +(.+)")
_HEALTH = re.compile(
    r"(health ?check|healthcheck|readiness probe|liveness probe|startup probe)\b.*?\b(fail\w*|unhealthy|timed out|refused)",
    re.I,
)
_MIGRATION = re.compile(
    r"\bmigrat\w*\b.*\b(fail\w*|error)\b|\b(fail\w*|error)\b.*\bmigrat\w*", re.I
)
_BIND = re.compile(
    r"(Address already in use|EADDRINUSE|address already in use|Permission denied|EACCES|\[Errno 13\])"
)
_ADDR = re.compile(
    r"\b((?:\d{1,3}(?:\.\d{1,3}){3}|localhost|0\.0\.0\.0|\[::\]|::):\d{2,5})\b|\bport (\d{2,5})\b"
)


def _claim_traceback(ctx: Context, n: int) -> list[int]:
    """The exception line of a Python traceback: claim the whole traceback above it."""
    covered = [n]
    k = n - 1
    while k >= 0 and (ctx.lines[k].startswith((" ", "\t")) or ctx.lines[k].startswith("Traceback")):
        covered.append(k)
        if ctx.lines[k].startswith("Traceback"):
            break
        k -= 1
    if k >= 0 and ctx.lines[k].startswith("Traceback"):
        ctx.claimed.update(covered)
        return sorted(covered)
    return [n]


def deploy_failures(ctx: Context) -> list[Finding]:
    out: dict[str, Finding] = {}

    def add(title: str, key: str, lines: list[int], loc: str | None, detail: str, fix: str) -> None:
        ctx.claimed.update(lines)
        if key in out:
            out[key].count += 1
            out[key].lines.extend(lines)
        else:
            out[key] = _finding(title, "high", key, lines, loc, detail, fix)

    for n in ctx.lines_with("[emerg]", "Syntax error on line"):
        if m := _EMERG.search(ctx.lines[n]):
            add(f"config test failed: {m.group(1)}", f"emerg:{mask(m.group(1))}:{m.group(2).rsplit('/', 1)[-1]}:{m.group(3)}", [n],
                f"{m.group(2)}:{m.group(3)}", "The server refuses to start with this configuration.",
                f"Fix the directive at {m.group(2)}:{m.group(3)} and re-run the config test.")  # fmt: skip
        elif m := _APACHE.search(ctx.lines[n]):
            add(f"config syntax error ({m.group(1)})", f"apache:{m.group(3)}:{m.group(2)}", [n], f"{m.group(3)}:{m.group(2)}",
                "Apache refuses to start with this configuration.", f"Fix line {m.group(2)} of {m.group(3)}.")  # fmt: skip
    for n in ctx.lines_with("error near line", "Error: near line", ": ERROR:"):
        line = ctx.lines[n]
        if m := _SQLITE.search(line):
            ln, msg = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
            script = next(
                (
                    w
                    for k in range(max(0, n - 5), n)
                    for w in ctx.lines[k].split()
                    if w.endswith(".sql")
                ),
                "migration script",
            )
            span = [n] + [
                k for k in (n + 1, n + 2) if k < len(ctx.lines) and ctx.lines[k].startswith(" ")
            ]
            add(f"migration failed: {msg}", f"sql:{script}:{ln}:{mask(msg)}", span, f"{script} near line {ln}",
                "The schema migration stops half-way; the release cannot go live.", f"Fix the statement near line {ln} of {script}.")  # fmt: skip
        elif m := _PSQL.search(line):
            add(f"migration failed: {m.group(3)}", f"psql:{m.group(1)}:{m.group(2)}:{mask(m.group(3))}", [n],
                f"{m.group(1)}:{m.group(2)}", "A SQL script failed.", f"Fix the statement at {m.group(1)}:{m.group(2)}.")  # fmt: skip
    for n in ctx.lines_with_ci("health", "probe", "migrat"):
        line = ctx.lines[n]
        if n in ctx.claimed:
            continue
        if m := _HEALTH.search(line):
            url = re.search(r"https?://\S+|/[\w/.-]*health\w*", line)
            add(f"{m.group(1)} failed", f"health:{mask(line[m.start():])[:80]}", [n], url.group(0) if url else m.group(1),
                "The new release is not healthy; traffic should not move to it.",
                "Check the service's startup log and the health endpoint it exposes.")  # fmt: skip
        elif _MIGRATION.search(line) and not re.search(r"\b0 (?:failed|errors?)\b", line):
            add(f"migration failed: {line.strip()[:120]}", f"migration:{mask(line.strip())[:80]}", [n], None,
                "The schema migration failed.", "Fix the failing migration and re-run it.")  # fmt: skip
    bind_seen = 0
    for n in ctx.lines_with_ci(
        "already in use", "eaddrinuse", "permission denied", "eacces", "errno 13"
    ):
        line = ctx.lines[n]
        m = _BIND.search(line)
        if not m or (n in ctx.claimed and "Traceback" not in ctx.lines[max(0, n - 1)]):
            continue
        addr = None
        for k in range(n, max(-1, n - 30), -1):
            am = _ADDR.search(ctx.lines[k])
            if am:
                addr = am.group(1) or f"port {am.group(2)}"
                break
        in_use = "in use" in m.group(1) or "ADDRINUSE" in m.group(1)
        bind_seen += 1
        if bind_seen > 200:
            break  # the same failure repeated: the first ones tell it
        what = "address already in use" if in_use else "permission denied"
        lines = _claim_traceback(ctx, n)
        loc = addr if in_use else (re.search(r"'(/[^']+)'|(/\S+)", line) or [None, None])[0]
        norm = re.sub(r"/\S+", "<path>", line)
        at = max(0, norm.find(m.group(1)))
        ident = addr if in_use else mask(norm[max(0, at - 60) : at])
        add(f"{what}" + (f" on {addr}" if addr and in_use else f": {loc}" if loc else ""), f"bind:{what}:{ident}", lines, loc or addr,
            "The service cannot start.",
            "Stop the process holding the port (or change the port)." if in_use else "Fix the file or port permissions of the service user.")  # fmt: skip
    return list(out.values())


_LEVEL = re.compile(
    r"(?:^|[\s\[|<(\"=])(FATAL|CRITICAL|CRIT|SEVERE|ERROR|EMERG|ALERT|PANIC|ERR)(?:[\]\s:|>)\",]|$)"
    r"|^(error|fatal|Error|Fatal|ERROR|FATAL)(?:\[\w+\])?: "
    r"|\blevel=(error|fatal|crit)\b|\"level\": ?\"(error|fatal|critical)\""
    r"|\[(error|crit|alert|emerg)\]"
)
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


def leveled_errors(ctx: Context) -> list[Finding]:
    """ERROR/FATAL lines that no specific detector explained, one finding per message template."""
    groups: dict[str, Finding] = {}
    for n in ctx.lines_with_ci(*_LEVEL_KEYS):
        if n in ctx.claimed:
            continue
        line = ctx.lines[n]
        parsed = structured_error(line) if ("{" in line or "=" in line) else None
        stacked = False
        if parsed is not None:
            level, msg, comp, stacked = parsed
        else:
            m = _LEVEL.search(line)
            if not m or _BOILERPLATE.search(line) or line.lstrip().startswith("{"):
                continue
            level = next(g for g in m.groups() if g).upper()
            msg = line[m.end() :].strip(" :-|]")
            comp = _component(line, m.start(), m.end())
        if not msg:
            continue
        tmpl = mask(msg)[:160]
        key = f"level:{mask(comp or '')}:{tmpl}"
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
            kind="error", agent_id=AGENT, title=f"{level}: {msg[:200]}", severity=sev, key=key, lines=[n],  # type: ignore[arg-type]
            location=comp, detail=f"{level} logged by {comp or 'the application'}.",
            root_cause=msg[:200] if stacked else None,
            fix=f"Handle the exception raised at {comp}." if stacked and comp else None, evidence_lines=[n],
            # in build and test output, ERROR lines after a located error are that error's echo
            summary=ctx.source in ("build", "test") or bool(_CASCADE.search(msg)),
        )  # fmt: skip
    return list(groups.values())


ERROR_DETECTIVE = Agent(
    id=AGENT,
    name="Error Detective",
    expertise="Error pattern recognition, root cause analysis",
    monitored_stages=("build", "test", "runtime"),
    setting="ai_monitor_error_detective",
    detectors=(
        testfail.pytest_failures,
        testfail.unittest_failures,
        testfail.node_tap_failures,
        testfail.jest_failures,
        testfail.mocha_failures,
        testfail.go_test_failures,
        testfail.cargo_test_failures,
        testfail.junit_failures,
        deploy_failures,
        crashes,
        builds.package_errors,
        builds.compiler_errors,
        traces.python_tracebacks,
        traces.python_syntax_errors,
        traces.java_js_traces,
        traces.go_panics,
        traces.rust_panics,
        scripting.php_errors,
        scripting.ruby_errors,
        shell.shell_errors,
        http_5xx,
        builds.build_summaries,
        leveled_errors,
    ),
)

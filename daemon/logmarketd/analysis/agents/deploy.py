"""Deploy and start-up failures: config tests (nginx, Apache), schema migrations (sqlite, psql,
migration tools), failed health checks, an address already in use, permission denied.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from logmarketd.analysis.agents.base import Context, Finding, mask, seen_again

__all__ = ["deploy_failures"]


def _finding(
    title: str, key: str, lines: list[int], loc: str | None, detail: str, fix: str
) -> Finding:
    return Finding(
        kind="error", title=title, severity="high", key=key, lines=lines, location=loc,
        detail=detail, root_cause=title, fix=fix, evidence_lines=lines[:3],
    )  # fmt: skip


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
    """Config tests, migrations, health checks, address in use, permission denied."""
    out: dict[str, Finding] = {}

    def add(title: str, key: str, lines: list[int], loc: str | None, detail: str, fix: str) -> None:
        ctx.claimed.update(lines)
        if not seen_again(out, key, lines):
            out[key] = _finding(title, key, lines, loc, detail, fix)

    for part in (_config_tests, _sql_migrations, _health_and_migrations, _bind_failures):
        part(ctx, add)
    return list(out.values())


# (title, key, covered lines, location, detail, fix): records one deploy failure
_Add = Callable[[str, str, list[int], str | None, str, str], None]


def _config_tests(ctx: Context, add: _Add) -> None:
    for n in ctx.lines_with_ci("emerg", "syntax error on line"):
        if m := _EMERG.search(ctx.lines[n]):
            add(f"config test failed: {m.group(1)}", f"emerg:{mask(m.group(1))}:{m.group(2).rsplit('/', 1)[-1]}:{m.group(3)}", [n],
                f"{m.group(2)}:{m.group(3)}", "The server refuses to start with this configuration.",
                f"Fix the directive at {m.group(2)}:{m.group(3)} and re-run the config test.")  # fmt: skip
        elif m := _APACHE.search(ctx.lines[n]):
            add(f"config syntax error ({m.group(1)})", f"apache:{m.group(3)}:{m.group(2)}", [n], f"{m.group(3)}:{m.group(2)}",
                "Apache refuses to start with this configuration.", f"Fix line {m.group(2)} of {m.group(3)}.")  # fmt: skip


def _sql_migrations(ctx: Context, add: _Add) -> None:
    for n in ctx.lines_with_ci("near line", "err"):
        line = ctx.lines[n]
        if "near line" not in line and "psql:" not in line:
            continue
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


def _health_and_migrations(ctx: Context, add: _Add) -> None:
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


def _bind_failures(ctx: Context, add: _Add) -> None:
    bind_seen = 0
    # node says "EADDRINUSE: address already in use", Python "[Errno 13] Permission denied"
    for n in ctx.lines_with_ci("already in use", "permission denied"):
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
            return  # the same failure repeated: the first ones tell it
        what = "address already in use" if in_use else "permission denied"
        lines = _claim_traceback(ctx, n)
        loc = addr if in_use else (re.search(r"'(/[^']+)'|(/\S+)", line) or [None, None])[0]
        norm = re.sub(r"/\S+", "<path>", line)
        at = max(0, norm.find(m.group(1)))
        ident = addr if in_use else mask(norm[max(0, at - 60) : at])
        said = (
            f" on {addr}" if addr and in_use else f": {loc}" if loc else f" ({line.strip()[:160]})"
        )
        add(f"{what}{said}", f"bind:{what}:{ident}", lines, loc or addr,
            "The service cannot start.",
            "Stop the process holding the port (or change the port)." if in_use else "Fix the file or port permissions of the service user.")  # fmt: skip

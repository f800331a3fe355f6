"""Shell failures that stop CI jobs and scripts: a command that does not exist, a file that is
not there. These are often the first meaningful error of a build log, above the runner's
"exit code 127" line.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding, seen_again

__all__ = ["shell_errors"]

_NOT_FOUND = re.compile(r"^(?:(\S+?): )?(?:line (\d+): )?([^\s:]+): (?:command )?not found$")
_CURL = re.compile(r"^curl: \((\d+)\) (.+)$")
_CURL_TLS = {
    "35",
    "51",
    "58",
    "60",
    "77",
    "83",
    "90",
    "91",
}  # TLS failures: the Security Guardian's
_NO_FILE = re.compile(
    r"^(\S+?): (?:line (\d+): )?(?:cannot (?:stat|open|access|create \w+) )?'?([^':]+?)'?: No such file or directory$"
)


def shell_errors(ctx: Context) -> list[Finding]:
    """Shell failures: command not found, missing files, failed curl calls."""
    out: dict[str, Finding] = {}
    _curl_errors(ctx, out)
    _missing_commands_and_files(ctx, out)
    return list(out.values())


def _curl_target(ctx: Context, n: int, message: str) -> str | None:
    target = re.search(
        r"https?://\S+|connect to ([\w.:-]+(?: port \d+)?)|resolve host:? '?([\w.-]+)", message
    )
    if target:
        return target.group(1) or target.group(2) or target.group(0)
    for k in range(n - 1, max(-1, n - 4), -1):  # the command echoed above (set -x, CI step)
        u = re.search(r"https?://[^\s'\"]+", ctx.lines[k])
        if u:
            return u.group(0)
    return None


def _curl_errors(ctx: Context, out: dict[str, Finding]) -> None:
    for n in ctx.lines_with("curl: ("):
        m = _CURL.match(ctx.lines[n].strip())
        if not m or m.group(1) in _CURL_TLS or n in ctx.claimed:
            continue
        where = _curl_target(ctx, n, m.group(2))
        key = f"curl:{m.group(1)}:{where or ''}"
        ctx.claimed.add(n)
        if seen_again(out, key, [n]):
            continue
        out[key] = Finding(
            kind="error", title=f"curl error {m.group(1)}: {m.group(2)}", severity="high", key=key,
            lines=[n], location=where, detail="An HTTP call of the script failed (service down, wrong URL or timeout).",
            root_cause=m.group(2), fix="Check that the service is up and reachable at this address before calling it.",
            evidence_lines=[n],
        )  # fmt: skip


def _missing_commands_and_files(ctx: Context, out: dict[str, Finding]) -> None:
    for n in ctx.lines_with("not found", "No such file or directory"):
        if n in ctx.claimed:
            continue
        line = ctx.lines[n].strip()
        if m := _NOT_FOUND.match(line):
            script, ln, cmd = m.group(1), m.group(2), m.group(3)
            title, fix = (
                f"command not found: {cmd}",
                f"Install {cmd} in the job's image or fix its name/PATH.",
            )
        elif m := _NO_FILE.match(line):
            script, ln, cmd = m.group(1), m.group(2), m.group(3)
            title, fix = (
                f"{script}: no such file or directory: {cmd}",
                f"Create {cmd} in an earlier step or fix the path.",
            )
        else:
            continue
        loc = f"{script}:{ln}" if script and ln else script or cmd
        key = f"shell:{title}"
        ctx.claimed.add(n)
        if seen_again(out, key, [n]):
            continue
        out[key] = Finding(
            kind="error", title=title, severity="high", key=key, lines=[n], location=loc,
            detail="The script stops here (set -e) or continues without a step it needed.",
            root_cause=line, fix=fix, evidence_lines=[n],
        )  # fmt: skip

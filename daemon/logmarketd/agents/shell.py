"""Shell failures that stop CI jobs and scripts: a command that does not exist, a file that is
not there. These are often the first meaningful error of a build log, above the runner's
"exit code 127" line.
"""

from __future__ import annotations

import re

from logmarketd.agents.base import Context, Finding

__all__ = ["shell_errors"]

AGENT = "error-detective"
_NOT_FOUND = re.compile(r"^(?:(\S+?): )?(?:line (\d+): )?([^\s:]+): (?:command )?not found$")
_NO_FILE = re.compile(
    r"^(\S+?): (?:line (\d+): )?(?:cannot (?:stat|open|access|create \w+) )?'?([^':]+?)'?: No such file or directory$"
)


def shell_errors(ctx: Context) -> list[Finding]:
    out: dict[str, Finding] = {}
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
        if key in out:
            out[key].count += 1
            out[key].lines.append(n)
            continue
        out[key] = Finding(
            kind="error", agent_id=AGENT, title=title, severity="high", key=key, lines=[n], location=loc,
            detail="The script stops here (set -e) or continues without a step it needed.",
            root_cause=line, fix=fix, evidence_lines=[n],
        )  # fmt: skip
    return list(out.values())

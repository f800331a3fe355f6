"""Generic layers over a line's own level: what any tool's WARN lines say, whatever the tool.

Two detectors, each the last resort of its agent, read the lines that no earlier finding of
any agent explained (``ctx.reported``):

- ``slow_signals`` (Performance Analyzer): a WARN or ERROR line, or any line that says
  "slow ...", whose words are about speed or capacity (slow, took too long, exceeded, backlog,
  throttled, pool exhausted, out of memory, ...): one finding per message template.
- ``leveled_warnings`` (Quality Inspector): every other WARN line (a level word, a structured
  level field, a ``warning:`` head, a Python ``XWarning:`` category) that names a source
  position: one finding per message template. A warning about the run that names no code
  ("received SIGTERM", "cloned an empty repository") is no quality finding: measured on the
  corpus, all of those were noise.

- ``risk_warnings`` (Security Guardian): a line that calls something a security risk,
  insecure, vulnerable or weak crypto (keytool's "uses the SHA1withRSA signature algorithm
  which is considered a security risk"), whatever its level.

All group by the message's shape, so a warning printed 500 times is one finding with a count.
"""

from __future__ import annotations

import re

from logmarketd.analysis.agents.base import Context, Finding, shape

__all__ = [
    "continued",
    "leveled_warnings",
    "locate",
    "risk_warnings",
    "slow_signals",
]

# A warning's level, as tools print it: a level word ("WARN", "[warning]", "W:"), a
# structured field (level=warn, "level":"warning"), a "warning:" head, or a Python category
_WARN = re.compile(
    r"(?:^|[\s\[|<(\"=])(?P<w>WARNING|WARN|Warning)(?:[\]\s:|>)\",]|$)"
    r"|^(?P<h>warning|W)(?:\[[\w-]+\])?: "
    r"|\blevel=(?P<f>warn|warning)\b|\"level\": ?\"(?P<j>warn|warning)\""
    r"|\[(?P<b>warn|warning)\]"
    r"|\b(?P<c>(?:User|Runtime|Resource|Syntax|Bytes|Unicode|Import|Encoding)Warning): "
)
_WARN_KEYS = ("WARN", "Warn", "warn", "W: ", "level=", '"level":')
# lines about warnings, not warnings: counts and summaries, switches, headers
# (matched on the lowercased line, and only where it holds one of _ABOUT_KEYS)
_ABOUT = re.compile(
    r"\b\d+ warnings?\b|warnings? generated|warnings? summary|with warnings|no warnings|"
    r"warnings? (?:as|are|were|treated)|-w\w|--warn|warn(?:ing)?s? (?:and|or) err|"
    r"^\W*warnings?\W*$|docs: https?://\S*warnings"
)
_ABOUT_KEYS = ("warnings", "warning ", "warn ", "-w")

# A location a line names, generically: path:line[:col], File "x", line N, at f (file:line),
# file.ext(N), file.ext line N
# a file of source, build or configuration: what a developer opens (a Java class such as
# "NIOServerCxn.Factory:0" is no file)
_EXT = (
    r"(?:c|h|cc|cpp|cxx|hpp|hh|py|pyi|pyx|js|mjs|cjs|jsx|ts|tsx|vue|svelte|go|rs|java|kt|kts|scala|groovy|gradle|"
    r"rb|erb|php|pl|pm|t|cs|fs|vb|swift|m|mm|sh|bash|zsh|ps1|lua|tcl|r|jl|sql|ex|exs|erl|hrl|hs|ml|clj|dart|"
    r"yaml|yml|json|toml|ini|cfg|conf|xml|html|htm|css|scss|less|tf|hcl|proto|cmake|mk|service|socket|timer|"
    r"txt|md|rst|tex|S|s|asm|f|f90|cu|zig|nim|v|sv|vhd|bzl|nix|lock|properties|env|dockerfile|"
    r"tpl|j2|jinja|hbs|mustache|twig|ejs|pug|liquid)"
)
_FILE = rf"(?:[\w.@~+/-]*[\w-]\.{_EXT}|(?:[\w.@~+/-]*/)?(?:Makefile|Dockerfile|Jenkinsfile|Gemfile|Rakefile))(?![\w])"
_LOCATE = (
    re.compile(r"File \"(?P<f>[^\"]+)\", line (?P<n>\d+)"),
    re.compile(rf"\((?P<f>{_FILE}):(?P<n>\d+)(?::\d+)?\)"),
    re.compile(rf"(?:^|[\s'\"(\[])(?P<f>{_FILE}):(?P<n>\d+)(?::\d+)?\b"),
    re.compile(rf"^(?P<f>{_FILE}): (?P<n>\d+): "),  # dash, ash: "rotate.sh: 7: Syntax error"
    re.compile(rf"(?:^|[\s'\"])(?P<f>{_FILE})\((?P<n>\d+)(?:,\d+)?\)"),
    re.compile(rf"(?:^|[\s'\"])(?P<f>{_FILE}),? (?:at )?line (?P<n>\d+)\b"),
)
_NOT_FILE = re.compile(r"^\d+(?:\.\d+)+$|^[\d.]+[a-z]*$|\.(?:com|org|net|io)$")


def locate(line: str) -> str | None:
    """``file:line`` of the first source position ``line`` names, or None."""
    for p in _LOCATE:
        for m in p.finditer(line):
            f = m.group("f")
            if not _NOT_FILE.search(f) and not f.startswith(("http", "www.")):
                return f"{f}:{m.group('n')}"
    return None


def _warning(line: str) -> str | None:
    """The message of a WARN line (what follows its level), or None when it is none."""
    low = line.lower()
    at = low.find("warn")
    # (searched from just before the word, where the regex can match: far cheaper than from
    # the start of a long line; a "W: " head or a level= field starts the line's scan)
    m = _WARN.search(line, at - 12 if at > 12 else 0) if at >= 0 else _WARN.match(line)
    if m is None:
        return None
    if any(k in low for k in _ABOUT_KEYS) and _ABOUT.search(low):
        return None
    if m.group("c"):
        return f"{m.group('c')}: {line[m.end() :].strip()}"
    return line[m.end() :].strip(" :-|]\"',") or None


# Words about speed and capacity (lowercase; "slow" on any line, the rest on leveled lines)
_SLOW = re.compile(
    r"\bslow(?:est|er|ly)?\b|\btook (?:too )?long|\btaking (?:too )?long|\btoo long\b|"
    r"\bexceed(?:s|ed|ing)?\b|\bbacklog\b|\bqueue (?:is )?full\b|\bthrottl|\boverload|"
    r"\bhigh (?:load|latency|memory|cpu)\b|\blatency\b|\b(?:pool|connections?|workers?|threads?)\b.{0,30}\bexhausted\b|"
    r"\bout of memory\b|\bmemory (?:pressure|usage|limit)\b|\bgc overhead\b|\bthrashing\b|"
    r"\bblocked for (?:more than )?\d|\block wait\b|\bcontention\b|\bstarv|\bfell behind\b|\blagging\b|"
    r"\bbuffer(?:ed)? (?:is )?full\b|\bqueue(?:d)? (?:size|length|depth)\b|\bcapacity\b"
)
_SLOW_KEYS = (
    "slow", "long", "exceed", "backlog", "full", "throttl", "overload", "high ", "latency",
    "exhausted", "memory", "overhead", "thrash", "blocked for", "lock wait", "contention", "starv",
    "behind", "lagging", "queue", "capacity",
)  # fmt: skip
_FINE = re.compile(r"(?:^|[\s\[|(=\"])(?:INFO|DEBUG|TRACE|NOTICE|info|debug)(?:[\]\s:|)\",]|$)")
_HEADER = re.compile(r"^\W*=|slowest \d+|^\s*#")  # a report's heading, a comment
_ERROR_LEVEL = re.compile(
    r"(?:^|[\s\[|<(\"=])(?:ERROR|ERR|error|CRITICAL|FATAL)(?:[\]\s:|>)\",]|$)"
)


def _seen(found: dict[str, Finding], key: str, n: int) -> bool:
    """Count line ``n`` into the finding of ``key`` when there is one (and say so): the caller
    makes the finding, and looks for its location, for a template's first line only."""
    f = found.get(key)
    if f is None:
        return False
    f.count += 1
    f.lines.append(n)
    if len(f.evidence_lines) < 3:
        f.evidence_lines.append(n)
    return True


def slow_signals(ctx: Context) -> list[Finding]:
    """WARN/ERROR lines (and "slow ..." lines) about speed or capacity, per message template."""
    found: dict[str, Finding] = {}
    warned = set(ctx.lines_with(*_WARN_KEYS))
    for n in ctx.lines_with_ci(*_SLOW_KEYS):
        if n in ctx.claimed or n in ctx.reported:
            continue
        line = ctx.lines[n]
        low = line.lower()
        m = _SLOW.search(low)
        if m is None:
            continue
        msg = _warning(line) if n in warned else None
        if msg is None and (e := _ERROR_LEVEL.search(line)) is not None:
            msg = line[e.end() :].strip(" :-|]")
        if (
            msg is None
            and m.group(0).startswith("slow")
            and not _HEADER.search(line)
            and not _FINE.search(line)  # the tool's own level says all is well
        ):
            msg = line.strip()
        if not msg:
            continue
        key = f"slow:{shape(msg, ids=True)[:160]}"
        if _seen(found, key, n):
            continue
        found[key] = Finding(
            kind="performance", title=f"{msg[:200]}", severity="medium", key=key, lines=[n],
            location=locate(line), detail=f"The log reports a speed or capacity problem ({m.group(0)}).",
            fix="Find what makes this slow or full here (profile it, raise the limit, or shed load).",
            evidence_lines=[n], generic=True,
        )  # fmt: skip
    return list(found.values())


# A warning about configuration or code, even where it names no file position: "config :
# missing timeouts for frontend 'www'", "option X is deprecated", "will be removed"
_ABOUT_CODE = re.compile(
    r"\bconfig(?:uration)?\b|\bdeprecat|\bobsolete\b|will be removed|no longer supported|"
    r"\bunknown (?:key|option|directive|setting|parameter)\b",
    re.I,
)
# A file position first, then what is wrong there, in the words config checkers and linters
# use ("shop-worker.service:4: Unknown key 'Restart' in section [Unit], ignoring.")
_POSITIONED = re.compile(
    r"^(?P<f>[\w.@~+/-]*[\w-]\.[A-Za-z]\w{0,9}):(?P<n>\d+)(?::\d+)?:\s+(?P<m>.*\b(?:[Uu]nknown|ignoring|[Ii]nvalid|"
    r"[Dd]eprecated|[Oo]bsolete|[Uu]nused|[Rr]edundant|[Dd]uplicate|[Uu]nsupported)\b.*)$"
)


def continued(ctx: Context, n: int, msg: str) -> str:
    """``msg`` of line ``n`` with what its indented continuation lines say, when the line
    only heads them ("CMake Deprecation Warning at CMakeLists.txt:13 (cmake_policy):")."""
    if not msg.endswith(":"):
        return msg
    more = []
    for k in range(n + 1, min(n + 4, len(ctx.lines))):
        nxt = ctx.lines[k]
        if not nxt.startswith((" ", "\t")) or not nxt.strip():
            break
        more.append(nxt.strip())
    return f"{msg} {' '.join(more)}" if more else msg


def _warning_finding(key: str, n: int, msg: str, loc: str | None) -> Finding:
    return Finding(
        kind="improvement", title=f"warning: {msg[:200]}", severity="low", key=key, lines=[n],
        location=loc, detail="A warning the run printed: it did not fail, but something is off.",
        fix=f"Fix what the warning names{' at ' + loc if loc else ''}, so that warnings stay rare and read.",
        evidence_lines=[n], effort="low", impact="low", generic=True,
    )  # fmt: skip


def leveled_warnings(ctx: Context) -> list[Finding]:
    """WARN lines about code or configuration that no earlier finding explained, and the
    config checkers' "file:line: unknown key ..., ignoring" lines: one finding per template."""
    found: dict[str, Finding] = {}
    about_the_run: set[str] = set()  # templates whose first line named no code
    for n in ctx.lines_with(*_WARN_KEYS):
        if n in ctx.claimed or n in ctx.reported:
            continue
        msg = _warning(ctx.lines[n])
        if msg is None or len(msg) < 8:
            continue
        key = f"warn:{shape(msg, ids=True)[:160]}"
        if key in about_the_run or _seen(found, key, n):
            continue
        loc = locate(ctx.lines[n])
        msg = continued(ctx, n, msg)
        if loc is None and not _ABOUT_CODE.search(msg):
            about_the_run.add(key)
            continue  # a warning about the run, not about code ("received SIGTERM")
        found[key] = _warning_finding(key, n, msg, loc)
    warned = {k for f in found.values() for k in f.lines}
    for n in ctx.lines_with(*_POSITIONED_KEYS):
        if n in ctx.claimed or n in ctx.reported or n in warned:
            continue
        if (p := _POSITIONED.match(ctx.lines[n])) is not None:
            key = f"warn:{shape(p.group('m'), ids=True)[:160]}"
            if not _seen(found, key, n):
                found[key] = _warning_finding(
                    key, n, p.group("m"), f"{p.group('f')}:{p.group('n')}"
                )
    return list(found.values())


_POSITIONED_KEYS = ("nknown", "ignoring", "nvalid", "eprecated", "bsolete", "nused", "edundant",
                    "uplicate", "nsupported")  # fmt: skip


# What a tool says when it judges something unsafe (lowercase)
_RISK = re.compile(
    r"considered a security risk|\bsecurity (?:risk|vulnerabilit\w+|hole)\b|\bis (?:not secure|insecure)\b|"
    r"\binsecure (?:protocol|cipher|algorithm|connection|permissions|mode|hash|transport|option)\b|"
    r"\bweak (?:cipher|key|hash|algorithm|signature|password|encryption|dh|diffie)\w*\b|\bvulnerable to\b|"
    r"\bdeprecated (?:key derivation|cipher|algorithm|hash|digest|protocol|tls|ssl)\b"
)
_RISK_KEYS = (
    "security risk", "security vulnerab", "security hole", "insecure", "not secure", "weak ", "vulnerable to",
    "deprecated ",
)  # fmt: skip
_SUBJECT = re.compile(r"^.*?\b(?:uses|using|use of|with) (?:the |an? )?")


def risk_warnings(ctx: Context) -> list[Finding]:
    """Lines in which a tool calls something a security risk, one finding per what it names."""
    found: dict[str, Finding] = {}
    for n in ctx.lines_with_ci(*_RISK_KEYS):
        if n in ctx.claimed or n in ctx.reported:
            continue
        line = ctx.lines[n].strip()
        m = _RISK.search(line.lower())
        if m is None or len(line) > 400:
            continue
        what = _SUBJECT.sub("", line[: m.start()]).strip(" ,.:;-") or line[: m.start()]
        key = f"risk:{shape(re.sub(r'<[^>]+>', '<x>', what or line), ids=True)[:120]}"
        if _seen(found, key, n):
            continue
        found[key] = Finding(
            kind="security", title=line[:200], severity="medium", key=key, lines=[n], location=locate(line),
            detail=f"The tool itself judges this unsafe ({m.group(0)}).",
            fix="Replace what it names with a current, safe choice (algorithm, key size, protocol, permissions).",
            evidence_lines=[n], generic=True,
        )  # fmt: skip
    return list(found.values())

"""Reports printed into a log that are themselves findings: each result of a SARIF log
(any static analyser or security scanner that writes SARIF 2.1) and each failed test case of a
JUnit XML report becomes one finding.

A report is read from the log's text as the tool wrote it: a SARIF log is found as a JSON
object holding ``"runs"`` (pretty-printed or on lines of at most ``MAX_LINE`` characters), a
JUnit report by its ``<testcase>`` elements (read with regular expressions: the XML is the
contributor's text, and no parser is given its entities). The report's own lines are claimed
(``report_lines``): its rule descriptions and code excerpts are documentation, not the log
saying something went wrong, so the generic detectors after these ones do not read them.
"""

from __future__ import annotations

import html
import json
import re
import weakref
from bisect import bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

from logmarketd.analysis.agents.base import SEVERITY_RANK, Context, Finding, Sev

__all__ = ["junit_xml_failures", "report_lines", "sarif_quality", "sarif_security"]


@dataclass(frozen=True)
class _Report:
    first: int  # its first and last line
    last: int
    entries: tuple[dict[str, Any], ...]  # SARIF: one per result (flattened), JUnit: empty


@dataclass
class _Reports:
    sarif: list[_Report]
    junit: list[tuple[int, int, dict[str, str]]]  # first line, last line, failed case
    lines: frozenset[int]


_CACHE: weakref.WeakKeyDictionary[Context, _Reports] = weakref.WeakKeyDictionary()


def _reports(ctx: Context) -> _Reports:
    got = _CACHE.get(ctx)
    if got is None:
        starts: list[int] = []
        sarif = _sarif(ctx, starts)
        junit = _junit(ctx, starts)
        covered = {n for r in sarif for n in range(r.first, r.last + 1)}
        covered.update(n for a, b, _ in junit for n in range(a, b + 1))
        got = _CACHE[ctx] = _Reports(sarif, junit, frozenset(covered))
    return got


def report_lines(ctx: Context) -> frozenset[int]:
    """The lines of the log that belong to a SARIF or JUnit report."""
    return _reports(ctx).lines


def _line_of(ctx: Context, starts: list[int], offset: int) -> int:
    """The line ``offset`` of the text falls in (``starts``: the lines' offsets, filled on
    first use)."""
    _fill(ctx, starts)
    return bisect_right(starts, offset) - 1


def _fill(ctx: Context, starts: list[int]) -> list[int]:
    if not starts:
        starts.extend(accumulate((len(x) + 1 for x in ctx.lines), initial=0))
    return starts


# ------------------------------------------------------------------------------- SARIF


# JSON objects tried per log: each try may read to the end of the text, and the text is the
# contributor's (a log of unclosed objects would otherwise be read once per opening).
MAX_DECODES = 16


def _sarif(ctx: Context, starts: list[int]) -> list[_Report]:
    out: list[_Report] = []
    decoder = json.JSONDecoder()
    end_of_last, tries = -1, 0
    for n in ctx.lines_with('"runs"'):
        if n <= end_of_last:
            continue
        if tries >= MAX_DECODES:
            break
        for k in range(n, max(-1, n - 4), -1):  # the object opens on this line or just above
            line = ctx.lines[k]
            brace = line.find("{")
            if brace < 0 or (k < n and line[:brace].strip()):
                continue
            offset = _fill(ctx, starts)[k] + brace
            tries += 1
            try:
                doc, end = decoder.raw_decode(ctx.text, offset)
            except (ValueError, RecursionError):  # not JSON, or nested past Python's stack
                continue
            entries = _sarif_results(doc)
            if entries is not None:
                _place(ctx, starts, entries, offset, end)
                last = _line_of(ctx, starts, end - 1)
                out.append(_Report(k, last, tuple(entries)))
                end_of_last = last
                break
    return out


def _place(
    ctx: Context, starts: list[int], entries: list[dict[str, Any]], start: int, end: int
) -> None:
    """The line of each result: where its message is written, the results in order."""
    cursor = start
    for entry in entries:
        text = _get(entry["result"], "message", "text")
        at = ctx.text.find(json.dumps(text)[1:-1], cursor, end) if isinstance(text, str) else -1
        if at < 0:
            at = cursor
        cursor = at + 1
        entry["line"] = _line_of(ctx, starts, at)


def _sarif_results(doc: Any) -> list[dict[str, Any]] | None:
    """Each result of a SARIF log with what its run says of its rule, or None if ``doc``
    is no SARIF log."""
    if not isinstance(doc, dict) or not isinstance(doc.get("runs"), list):
        return None
    out: list[dict[str, Any]] = []
    for run in doc["runs"]:
        if not isinstance(run, dict) or not isinstance(run.get("results"), list):
            return None
        driver = _get(run, "tool", "driver")
        rules = driver.get("rules") if isinstance(driver, dict) else None
        tool = str(driver.get("name", "")) if isinstance(driver, dict) else ""
        for result in run["results"]:
            if not isinstance(result, dict):
                continue
            rule = _rule_of(result, rules if isinstance(rules, list) else [])
            out.append({"result": result, "rule": rule, "tool": tool})
    return out


def _get(obj: Any, *path: str | int) -> Any:
    for p in path:
        if isinstance(p, int):
            obj = obj[p] if isinstance(obj, list) and len(obj) > p else None
        else:
            obj = obj.get(p) if isinstance(obj, dict) else None
    return obj


def _rule_of(result: dict[str, Any], rules: list[Any]) -> dict[str, Any]:
    index = result.get("ruleIndex")
    rid = result.get("ruleId")
    if isinstance(index, int) and 0 <= index < len(rules) and isinstance(rules[index], dict):
        found: dict[str, Any] = rules[index]
        return found
    return next((r for r in rules if isinstance(r, dict) and r.get("id") == rid), {})


# Words of a result, its rule's tags or its tool that make it a security finding: rule ids
# of bandit (B101) and of ruff's and flake8's bandit port (S101), CWE references, the usual
# names of scanners, and the words scanners use.
_SECURITY_TOOLS = re.compile(
    r"bandit|semgrep|gosec|codeql|trivy|checkov|brakeman|tfsec|snyk|grype|kics|horusec"
    r"|security|sast|secret|gitleaks|trufflehog|njsscan|spotbugs|find-sec-bugs",
    re.I,
)
_SECURITY_WORDS = re.compile(
    r"\b(?:security|insecure|injection|vulnerab\w*|cwe-\d+|cve-\d{4}-\d+|xss|csrf|ssrf"
    r"|hard-?coded (?:password|secret|key|credential)s?|password|credential|secret"
    r"|shell=True|deserializ\w*|traversal|eval|exec|crypto\w*|cipher|md5|sha1|tls|ssl)\b",
    re.I,
)
_SECURITY_IDS = re.compile(r"^(?:[BS]\d{3}|G\d{3}|CWE-\d+)$")


def _is_security(entry: dict[str, Any], message: str) -> bool:
    rule, rid = entry["rule"], str(entry["result"].get("ruleId", ""))
    tags = _get(rule, "properties", "tags")
    tag_text = " ".join(map(str, tags)) if isinstance(tags, list) else ""
    return bool(
        _SECURITY_TOOLS.search(entry["tool"])
        or _SECURITY_IDS.match(rid)
        or _get(rule, "properties", "security-severity") is not None
        or _SECURITY_WORDS.search(f"{message} {tag_text}")
    )


def _sarif_findings(ctx: Context, security: bool) -> list[Finding]:
    out: list[Finding] = []
    for report in _reports(ctx).sarif:
        for entry in report.entries:
            result = entry["result"]
            message = str(_get(result, "message", "text") or "").strip()
            if not message or _is_security(entry, message) != security:
                continue
            out.append(_sarif_finding(report, entry, message, security))
    return out


def _sarif_finding(report: _Report, entry: dict[str, Any], message: str, security: bool) -> Finding:
    result, rule = entry["result"], entry["rule"]
    rid = str(result.get("ruleId") or _get(rule, "id") or "")
    where = _get(result, "locations", 0, "physicalLocation")
    uri = str(_get(where, "artifactLocation", "uri") or "").removeprefix("file://")
    line = _get(where, "region", "startLine")
    loc = (f"{uri}:{line}" if isinstance(line, int) else uri) or None
    tool = entry["tool"] or "the analyser"
    help_text = str(_get(rule, "help", "text") or _get(rule, "shortDescription", "text") or "")
    name = f"{rid} " if rid else ""
    return Finding(
        kind="security" if security else "improvement",
        title=f"{tool} {name}{message}",
        severity=_severity(result, rule, security),
        key=f"sarif:{tool}:{rid}:{uri}:{line}:{message}",
        lines=[entry["line"]],
        location=loc,
        detail=f"{tool} reports {name.strip() or 'a result'}: {message}"
        + (f" ({help_text.strip()[:200]})" if help_text.strip() else ""),
        fix=(f"Change the code at {loc} as {tool}'s rule {rid} asks." if loc and rid else None),
        evidence_lines=[entry["line"]],
        impact="medium" if str(result.get("level", "warning")) == "error" else "low",
    )


def _severity(result: dict[str, Any], rule: dict[str, Any], security: bool) -> Sev:
    """From the result's level; a security score the report gives (SARIF's
    ``security-severity``, GitHub code scanning's bands) may lower it, never raise it: the
    report is the contributor's text, and a score written into it is no evidence."""
    level = str(result.get("level") or _get(rule, "defaultConfiguration", "level") or "warning")
    if security:
        sev: Sev = "high" if level == "error" else "medium" if level == "warning" else "low"
    else:
        sev = "medium" if level == "error" else "low"
    score = _get(rule, "properties", "security-severity")
    try:
        cvss = float(score) if score is not None else None
    except (TypeError, ValueError):
        cvss = None
    if cvss is None:
        return sev
    banded: Sev = (
        "critical" if cvss >= 9 else "high" if cvss >= 7 else "medium" if cvss >= 4 else "low"
    )
    return min(sev, banded, key=SEVERITY_RANK.__getitem__)


def sarif_security(ctx: Context) -> list[Finding]:
    """The security results of SARIF logs printed in the log (a scanner's issues)."""
    return _sarif_findings(ctx, security=True)


def sarif_quality(ctx: Context) -> list[Finding]:
    """The other results of SARIF logs printed in the log (lint, code smells)."""
    return _sarif_findings(ctx, security=False)


# ------------------------------------------------------------------------------- JUnit

_FAILED = re.compile(r"<(failure|error)\b([^>]*)")
_ATTR = re.compile(r'([\w:.-]+)\s*=\s*"([^"]*)"')
# a frame of the failure text: ``tests/test_x.py:12: AssertionError``, ``at a.BTest.x(BTest.java:12)``
_FRAME = re.compile(r"(?:^|\()([\w./$-]+?\.\w+):(\d+)(?=[:) ]|$)", re.M)


def _junit(ctx: Context, starts: list[int]) -> list[tuple[int, int, dict[str, str]]]:
    """The failed cases, read in one pass: each case's search stops at the next case's
    opening (str.find, no backtracking regex over the rest of the text)."""
    if not ctx.lines_with("<testcase"):
        return []
    text, out = ctx.text, []
    opens = [m.start() for m in re.finditer(r"<testcase\b", text)]
    for start, nxt in zip(opens, [*opens[1:], len(text)], strict=True):
        head_end = text.find(">", start, nxt)
        if head_end < 0 or text[head_end - 1] == "/":
            continue  # cut short, or a passed case (<testcase .../>)
        close = text.find("</testcase>", head_end, nxt)
        failed = _FAILED.search(text, head_end, close) if close >= 0 else None
        if failed is None:
            continue
        body_end = text.find(f"</{failed.group(1)}>", failed.end(), close)
        case = {k: html.unescape(v) for k, v in _ATTR.findall(text, start, head_end)}
        fail = {k: html.unescape(v) for k, v in _ATTR.findall(failed.group(2))}
        case["kind"] = failed.group(1)
        case["message"] = fail.get("message", "") or fail.get("type", "")
        self_closed = failed.group(2).endswith("/")
        body = "" if self_closed or body_end < 0 else text[failed.end() + 1 : body_end]
        case["text"] = html.unescape(body)
        first, last = _line_of(ctx, starts, start), _line_of(ctx, starts, close)
        out.append((first, last, case))
    return out


def junit_xml_failures(ctx: Context) -> list[Finding]:
    """Each failed or errored test case of a JUnit XML report (pytest, surefire, Gradle,
    jest-junit, go-junit-report ...), with the test file's line where it failed."""
    reports = _reports(ctx)
    ctx.claimed.update(reports.lines)  # documentation and excerpts, not the log's own lines
    out: list[Finding] = []
    for first, last, case in reports.junit:
        name = ".".join(p for p in (case.get("classname"), case.get("name")) if p)
        message = case["message"].split("\n", 1)[0].strip()
        loc = _where(case)
        out.append(Finding(
            kind="error", severity="high", key=f"test:junit:{name}",
            title=f"test failed: {name}" + (f" - {message}" if message else ""),
            lines=list(range(first, last + 1)), location=loc,
            detail=f"The test {name} ends in {case['kind']} in the JUnit report; the build is red until it is fixed.",
            root_cause=message or None,
            fix=f"Fix the code under test or the expectation at {loc}." if loc else None,
            evidence_lines=[first],
        ))  # fmt: skip
    return out


def _where(case: dict[str, str]) -> str | None:
    """The line of the test's own file the failure text points at (the case's ``file``, else
    the file named like its class), else the case's file and line attributes, else the
    failure's first frame."""
    file = case.get("file", "")
    frames = _FRAME.findall(case["text"])
    own = file.rsplit("/", 1)[-1] or case.get("classname", "").rsplit(".", 1)[-1] + "."
    for path, line in frames:
        if own != "." and path.rsplit("/", 1)[-1].startswith(own):
            return f"{path}:{line}"
    if file:
        return f"{file}:{case['line']}" if case.get("line") else file
    return f"{frames[0][0]}:{frames[0][1]}" if frames else None

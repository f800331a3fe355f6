"""Leaked secrets: whatever the redactor's reporting rules find (``logmarketd.ingest.redact_rules``,
the one table of secret rules: cloud keys, tokens, private keys, passwords in URLs, headers and
key=value pairs), one finding per secret value.

A secret the daemon redacted as its record arrived (records from the socket and the tailer
are redacted at ingest, before anything is stored) is still a leak: its keyed placeholder
(``<REDACTED:rule:digest>``, :meth:`Redactor.placeholder`) names the rule, and the same secret
always has the same digest, so it is reported the same way without the value.

The finding names the kind of secret (the rule's label and severity) and where it appeared;
the secret itself never leaves this module unmasked (``Finding.secrets`` lists the values the
publisher must mask), and the fingerprint uses a hash of the value, so the same leaked key is
the same finding.
"""

from __future__ import annotations

import hashlib
import re

from logmarketd.analysis.agents.base import Context, Finding, declare_keywords, seen_again
from logmarketd.analysis.agents.reports import report_lines
from logmarketd.ingest.redact import Redactor
from logmarketd.ingest.redact_rules import SECRET_RULES, Rule

__all__ = ["LEAK", "leaked_secrets", "mask_secret"]

# How a leaked secret's threat begins: the market reads it (a leak is an alert, never a bonus).
LEAK = "leaked secret"

_RULES = {r.id: r for r in SECRET_RULES if r.report}
# The redactor with the rules whose hits are leaks (the others would cost a scan for nothing).
# Its key only shapes placeholders, which are not used here.
_SCANNER = Redactor(b"security-guardian-scan", rules=tuple(_RULES.values()))
# a large log is searched around these (``Context.windows``)
declare_keywords((k for r in _RULES.values() for k in r.keywords), folded=True)
# A placeholder the redactor wrote at ingest: the rule's id and the keyed digest of the secret.
_PLACEHOLDER = re.compile(r"<REDACTED:([a-z0-9][a-z0-9-]{0,63}):([0-9a-f]{1,64})>")
_PEM_TYPE = re.compile(r"-----BEGIN ([ A-Z0-9_-]{0,100}PRIVATE KEY)")


def mask_secret(value: str) -> str:
    """What a report may show of a secret: its first four characters at most."""
    keep = value[:4] if len(value) >= 12 else ""
    return f"{keep}…[REDACTED]"


def leaked_secrets(ctx: Context) -> list[Finding]:
    """Secrets in clear text, one finding per secret value (masked), counted per occurrence.

    Rules that do not ``report`` (they redact as a precaution) are not run; values on the
    ``allow_secret_values`` list of the configuration are not reported.
    """
    found: dict[str, Finding] = {}
    text = ctx.text
    in_report = report_lines(ctx)  # a scanner's report quotes code; it reports it itself
    for hit in _SCANNER.find(text, ctx.windows, ctx.folded()):
        value = text[hit.start : hit.end]
        if value in ctx.config.allow_secret_values or hit.line - 1 in in_report:
            continue
        rule = _RULES[hit.rule]
        n = hit.line - 1
        key = f"secret:{rule.id}:{hashlib.sha256(value.encode()).hexdigest()[:16]}"
        if not seen_again(found, key, [n]):
            at = hit.start - ctx.line_start(n)
            found[key] = _finding(rule, value, n, key, _holder(ctx.lines[n][: max(at, 0)]))
    for n in ctx.lines_with("<REDACTED:"):
        for m in _PLACEHOLDER.finditer(ctx.lines[n]):
            redacted_by = _RULES.get(m.group(1))  # None: a precaution, or PII: no leak
            key = f"secret:{m.group(1)}:ingest-{m.group(2)}"
            if redacted_by is not None and not seen_again(found, key, [n]):
                found[key] = _finding(redacted_by, "", n, key)
    return list(found.values())


# What a secret was given to, just before it: a variable or key ("AWS_SECRET_ACCESS_KEY=",
# "password: ", "+aws_secret_access_key = " in a diff), a header ("Authorization: Bearer "),
# an option ("--token ")
_HOLDER = re.compile(
    r"(?:^|[\s'\"{(,;&?+])(?:-{1,2})?(?P<name>[A-Za-z_][\w.-]{1,60})\"?\s*(?:=|:|\s)\s*"
    r"(?:Bearer\s+|Basic\s+|Token\s+)?['\"]?$"
)


def _holder(before: str) -> str | None:
    """The name the secret that follows ``before`` on its line was assigned to, if any."""
    m = _HOLDER.search(before[-120:])
    return m.group("name") if m else None


def _finding(rule: Rule, value: str, n: int, key: str, holder: str | None = None) -> Finding:
    pem = _PEM_TYPE.match(value) if rule.id == "private-key" else None
    if pem is not None:
        # the header names the key's type and is no secret; the lines below it are
        shown = pem.group(1)
        body = value.splitlines()[1:] if "\n" in value else [value[pem.end() :]]
        secrets = [b.strip() for b in body if b.strip() and not b.lstrip().startswith("-----END")]
    elif not value:  # redacted at ingest: the placeholder is all there is
        shown, secrets = "redacted at ingest", []
    else:
        shown, secrets = mask_secret(value), [value]
    name = rule.label or rule.id
    # (no ": " after the word "secret": a redactor reads what follows it as the secret)
    given = f" given to {holder}" if holder else ""
    return Finding(
        kind="security", title=f"{LEAK} ({name}){given}, {shown}", severity=rule.severity,
        key=key, lines=[n], location=f"{holder} (line {n + 1})" if holder else f"line {n + 1}",
        detail=f"A {name} is written in clear text to the log{given}; anyone who can read logs can use it.",
        fix=f"Revoke and rotate this {name} now; stop logging it (mask secrets in the logging config).",
        evidence_lines=[n], secrets=secrets,
    )  # fmt: skip

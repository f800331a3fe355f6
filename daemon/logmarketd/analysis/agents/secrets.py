"""Leaked secrets: cloud keys, tokens, private keys, passwords in URLs and in key=value pairs.
The finding names the kind of secret and where it appeared; the secret itself never leaves this
module unmasked (``Finding.secrets`` lists the values the publisher must mask), and the
fingerprint uses a hash of the value, so the same leaked key is the same finding.
"""

from __future__ import annotations

import hashlib
import re

from logmarketd.analysis.agents.base import Context, Finding

__all__ = ["SECRET_RULES", "leaked_secrets", "mask_secret"]


# (id, name, severity, regex with the secret in group "s", keywords for the prefilter)
SECRET_RULES: tuple[tuple[str, str, str, re.Pattern[str], tuple[str, ...]], ...] = (
    ("aws-key-id", "AWS access key id", "critical", re.compile(r"\b(?P<s>(?:AKIA|ASIA)[0-9A-Z]{16})\b"), ("AKIA", "ASIA")),
    ("aws-secret", "AWS secret access key", "critical",
     re.compile(r"(?i)aws_?secret_?access_?key\W{0,3}(?P<s>[A-Za-z0-9/+=]{40})\b"), ("secret",)),
    ("github-token", "GitHub token", "critical", re.compile(r"\b(?P<s>gh[pousr]_[A-Za-z0-9]{36,}|github_pat_\w{50,})\b"), ("gh",)),
    ("gitlab-token", "GitLab token", "critical", re.compile(r"\b(?P<s>glpat-[\w-]{20,})"), ("glpat-",)),
    ("slack-token", "Slack token", "high", re.compile(r"\b(?P<s>xox[abposr]-[\w-]{10,})"), ("xox",)),
    ("stripe-key", "Stripe secret key", "critical", re.compile(r"\b(?P<s>[sr]k_live_[0-9A-Za-z]{16,})"), ("k_live_",)),
    ("google-api-key", "Google API key", "high", re.compile(r"\b(?P<s>AIza[0-9A-Za-z_-]{35})"), ("AIza",)),
    ("openai-key", "OpenAI/Anthropic API key", "critical", re.compile(r"\b(?P<s>sk-(?:proj-|ant-)?[A-Za-z0-9_-]{32,})"), ("sk-",)),
    ("private-key", "private key", "critical",
     re.compile(r"-----BEGIN (?P<s>(?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY)(?: BLOCK)?-----"), ("private",)),
    ("jwt", "JSON Web Token", "high", re.compile(r"\b(?P<s>eyJ[\w-]{8,}\.eyJ[\w-]{8,}\.[\w-]{10,})"), ("eyJ",)),
    ("url-credentials", "password in URL", "high",
     re.compile(r"\b[a-z][a-z0-9+.-]{1,20}://[^/\s:@'\"]{1,64}:(?P<s>[^/\s@'\"]{3,128})@[\w.-]+"), ("://",)),
    ("auth-header", "credentials in Authorization header", "high",
     re.compile(r"(?i)\bauthorization['\"]?\s*[:=]\s*['\"]?(?:bearer|basic|token)\s+(?P<s>[A-Za-z0-9._~+/=-]{8,})"),
     ("authorization",)),
    ("api-key-header", "API key header", "high",
     re.compile(r"(?i)\b(?:x-api-key|x-auth-token|api-key)['\"]?\s*[:=]\s*['\"]?(?P<s>[A-Za-z0-9._-]{12,})"), ("api", "token")),
    ("password-kv", "password or secret in key=value", "high",
     re.compile(r"(?i)\b(?:password|passwd|pwd|secret|client_secret|api_?key|access_?token|auth_?token|private_?key)"
                r"['\"]?\s*[:=]\s*['\"]?(?P<s>[^\s'\",;&}]{6,})"),
     ("passw", "pwd", "secret", "api", "token", "private")),
)  # fmt: skip

_ANY_CASE = frozenset(
    {"aws-secret", "auth-header", "api-key-header", "password-kv", "private-key"}
)  # keys are lowercase
_PLACEHOLDER = re.compile(
    r"^(?:\*+|x+|X+|\.+|<[^>]*>|\$\{[^}]*\}|\{\{[^}]*\}\}|%\(?\w*\)?s?|null|none|None|true|false|redacted|\[?REDACTED\]?|"
    r"masked|hidden|changeit|example|placeholder|\$\w+|env:.*|[*•]+.*)$",
    re.I,
)


def mask_secret(value: str) -> str:
    """What a report may show of a secret: its first four characters at most."""
    keep = value[:4] if len(value) >= 12 else ""
    return f"{keep}…[REDACTED]"


def leaked_secrets(ctx: Context) -> list[Finding]:
    """Secrets in clear text, one finding per secret value (masked)."""
    found: dict[str, Finding] = {}
    taken: dict[int, list[tuple[int, int]]] = {}
    for rid, name, sev, rx, keys in SECRET_RULES:
        scan = ctx.lines_with_ci if rid in _ANY_CASE else ctx.lines_with
        for n in scan(*keys):
            line = ctx.lines[n]
            if rid == "url-credentials" and "@" not in line:
                continue  # most URLs carry no user:password@
            for m in rx.finditer(line):
                value = m.group("s")
                start, end = m.span("s")
                if any(s <= start < e or s < end <= e for s, e in taken.get(n, [])):
                    continue  # the same span already matched a more specific rule
                if (
                    _PLACEHOLDER.match(value)
                    or value.startswith(("${", "{{", "$(", "%(", "<"))
                    or value in ctx.config.allow_secret_values
                ):
                    continue
                if rid == "password-kv" and (
                    value.isdigit() or value.lower() in ("required", "optional", "invalid")
                ):
                    continue
                taken.setdefault(n, []).append((start, end))
                digest = hashlib.sha256(value.encode()).hexdigest()[:16]
                key = f"secret:{rid}:{digest}"
                f = found.get(key)
                if f is not None:
                    f.count += 1
                    f.lines.append(n)
                    continue
                shown = value if rid == "private-key" else mask_secret(value)
                found[key] = Finding(
                    kind="security", title=f"leaked secret: {name} ({shown})", severity=sev,  # type: ignore[arg-type]
                    key=key, lines=[n], location=f"line {n + 1}",
                    detail=f"A {name} is written in clear text to the log; anyone who can read logs can use it.",
                    fix=f"Revoke and rotate this {name} now; stop logging it (mask secrets in the logging config).",
                    evidence_lines=[n], secrets=[] if rid == "private-key" else [value],
                )  # fmt: skip
    # a private key's body lines are the secret: mask them all
    for f in found.values():
        if f.key.startswith("secret:private-key"):
            for n in list(f.lines):
                k = n + 1
                while k < len(ctx.lines) and k < n + 100 and "-----END" not in ctx.lines[k]:
                    if ctx.lines[k].strip():
                        f.secrets.append(ctx.lines[k].strip())
                    k += 1
    return list(found.values())

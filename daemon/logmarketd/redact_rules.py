"""The secret and PII rules that :mod:`logmarketd.redact` applies: data, not code.

Each rule is a gitleaks-style entry: lowercase *keywords* (a rule runs only when one of them
occurs in the lowercased text: a substring test costs far less than a regex scan), a *regex*
whose group ``secret`` (or the whole match) is what gets replaced, an *entropy floor* in bits per
character that the secret must reach, and an *allowlist* of values that are placeholders rather
than secrets (``****``, ``<redacted>``, ``${VAR}``...). Specific rules come first: when two rules
cover the same span, the earlier one names the placeholder (``github-token`` beats
``keyword-secret``).

Why regexes start with a literal where they can: CPython's ``re`` scans for a literal prefix
with a fast search, so ``ghp_...`` costs almost nothing on a line without ``ghp_``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["PII_RULES", "PLACEHOLDER_VALUE", "SECRET_RULES", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector. ``id`` is the type written into the placeholder."""

    id: str
    regex: re.Pattern[str]
    keywords: tuple[str, ...]
    entropy: float = 0.0
    allow: re.Pattern[str] | None = None
    pii: bool = False


# Values that are already masked, templated or empty-ish: never secrets. Matched against the
# whole candidate value (fullmatch), case-insensitively.
PLACEHOLDER_VALUE = re.compile(
    r"""(?ix)
    [*xX•#.\-_]{1,64}                  # ****, xxxx, ...., ----
    | <[^<>]{0,64}>                    # <redacted>, <REDACTED:aws-access-key:1a2b3c>, <password>
    | \$\{[^}]{0,128}\}                # ${DB_PASSWORD}
    | \$[A-Za-z_][A-Za-z0-9_]{0,64}    # $DB_PASSWORD
    | \{\{[^}]{0,128}\}\}              # {{ secrets.TOKEN }}
    | %\(?[a-z_]*\)?[sd]               # %s, %(password)s
    | \[(?:filtered|redacted|masked|hidden|removed|secret)\]
    | (?:redacted|masked|filtered|hidden|none|null|nil|undefined|true|false|empty|
         required|optional|changeme|placeholder|example|secret|password|token|
         not[_-]?set|unset|n/?a|yes|no|on|off|\*\*\*redacted\*\*\*)
    """
)

_SECRET_KEY = (
    r"(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|"
    r"private[_-]?key|signing[_-]?key|encryption[_-]?key|auth|credentials?|session[_-]?id|cookie)"
    r"(?:[_-]?(?:key|token|value|hash|string))?"
)
# key=value, key: value, "key": "value", key => value. The keyword may be the tail of a longer
# key (db_password, x-api-key, clientSecret, AWS_SECRET_ACCESS_KEY) but the key must end right
# after it, so ``token_count=512``, ``max_tokens: 10`` and ``author: Ann`` are not candidates.
_KV = re.compile(
    r"""(?ix)"""
    + _SECRET_KEY
    + r"""
    (?![A-Za-z0-9])                    # the key ends here
    ["']?\s*                           # the closing quote of a JSON key
    (?:=>|:=|=|:)\s*
    (?:
        "(?P<dq>[^"\n]{1,512})"          # "quoted value"
      | '(?P<sq>[^'\n]{1,512})'
      | (?P<bare>\$\{[^}\s]{0,128}\}     # ${VAR} (then allowlisted)
          | [^\s"',;&)}\]]{1,512})        # bare value up to a delimiter
    )
    """
)
_KV_KEYWORDS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "session",
    "cookie",
)

SECRET_RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        # A whole PEM block when the text holds it, else the header plus the base64 lines
        # that follow it (a block cut by a window, or lines joined with literal "\n").
        re.compile(
            r"(?P<secret>-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:[\s\S]{0,16384}?-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            r"|(?:(?:\\n|\r?\n|[ \t]+)[A-Za-z0-9+/=]{16,}){0,400}))"
        ),
        ("private key",),
    ),
    Rule(
        "aws-access-key",
        re.compile(r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b"),
        ("akia", "asia", "abia", "acca", "a3t"),
    ),
    Rule(
        "aws-secret-key",
        re.compile(
            r"(?i)aws[\w.\-]{0,20}?(?:secret|sk|key)[\w.\-]{0,20}?[\"']?\s*(?:=|:|=>)\s*[\"']?"
            r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        ("aws",),
        entropy=3.5,
    ),
    Rule(
        "github-token",
        re.compile(r"\b(?P<secret>(?:ghp|gho|ghu|ghs|ghr)_[0-9A-Za-z]{36,255})\b"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
    ),
    Rule(
        "github-fine-grained-token",
        re.compile(r"\b(?P<secret>github_pat_[0-9A-Za-z_]{22,255})\b"),
        ("github_pat_",),
    ),
    Rule(
        "gitlab-token",
        re.compile(
            r"\b(?P<secret>gl(?:pat|dt|rt|ptt|ft|cbt|oas|soat|imt|agent|ffct)-[0-9A-Za-z_\-]{20,64})"
            r"(?![0-9A-Za-z_\-])"
        ),
        (
            "glpat-",
            "gldt-",
            "glrt-",
            "glptt-",
            "glft-",
            "glcbt-",
            "gloas-",
            "glsoat-",
            "glimt-",
            "glagent-",
            "glffct-",
        ),
    ),
    Rule(
        "slack-webhook",
        re.compile(
            r"(?P<secret>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,})"
        ),
        ("hooks.slack.com",),
    ),
    Rule(
        "slack-token",
        re.compile(
            r"\b(?P<secret>xox[abposre]-[0-9A-Za-z\-]{10,250}|xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]+)"
        ),
        ("xoxa-", "xoxb-", "xoxp-", "xoxo-", "xoxs-", "xoxr-", "xoxe-", "xapp-"),
    ),
    Rule(
        "stripe-key",
        re.compile(
            r"\b(?P<secret>(?:sk|rk)_(?:test|live|prod)_[0-9A-Za-z]{10,247}|whsec_[0-9A-Za-z]{24,})\b"
        ),
        ("sk_test_", "sk_live_", "sk_prod_", "rk_test_", "rk_live_", "rk_prod_", "whsec_"),
    ),
    Rule(
        "google-api-key",
        re.compile(r"\b(?P<secret>AIza[0-9A-Za-z\-_]{35})(?![0-9A-Za-z\-_])"),
        ("aiza",),
    ),
    Rule(
        "anthropic-key",
        re.compile(r"\b(?P<secret>sk-ant-[a-z]{3,8}\d{2}-[0-9A-Za-z_\-]{20,})"),
        ("sk-ant-",),
    ),
    Rule(
        "openai-key",
        re.compile(
            r"\b(?P<secret>sk-(?:(?:proj|svcacct|admin|None)-)?[0-9A-Za-z_\-]{20,}T3BlbkFJ[0-9A-Za-z_\-]{20,}"
            r"|sk-(?:proj|svcacct|admin)-[0-9A-Za-z_\-]{40,})"
        ),
        ("sk-",),
    ),
    Rule(
        "jwt",
        re.compile(r"\b(?P<secret>eyJ[0-9A-Za-z_\-]{8,}\.eyJ[0-9A-Za-z_\-]{8,}\.[0-9A-Za-z_\-]*)"),
        ("eyj",),
    ),
    Rule(
        "url-password",
        # scheme://user:password@host: only the password goes.
        re.compile(r"://[^\s:/@?#\"']{0,256}:(?P<secret>[^\s:/@?#\"']{1,256})@(?=[^\s@/]{1,256})"),
        ("://",),
    ),
    Rule(
        "authorization-header",
        re.compile(
            r"(?i)\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey|aws4-hmac-sha256)\s+)?"
            r"(?P<secret>[^\s\"',;]{4,})"
        ),
        ("authorization",),
    ),
    Rule(
        "bearer-token",
        re.compile(r"(?i)\bbearer\s+(?P<secret>[0-9A-Za-z\-._~+/]{16,}=*)"),
        ("bearer",),
        entropy=3.0,
    ),
    Rule(
        "basic-auth",
        re.compile(r"\bBasic\s+(?P<secret>[0-9A-Za-z+/]{8,}={0,2})(?![0-9A-Za-z+/=])"),
        ("basic",),
        entropy=3.0,
        # Base64 of "user:pass" always holds a digit, '+', '/' or '=' or mixed case; prose
        # ("Basic information") is one case-run of letters.
        allow=re.compile(r"[A-Z]?[a-z]+|[A-Z]+"),
    ),
    Rule("keyword-secret", _KV, _KV_KEYWORDS, entropy=1.5),
    Rule(
        "keyword-high-entropy",
        # A long random-looking word a few words after a secret-ish keyword, without a
        # separator ("using token 8f3a...", "api key abcd..."): only near such keywords.
        re.compile(
            r"(?i)(?:secret|token|api[_ -]?key|apikey|password|passwd|credential|signature)s?"
            r"\b[^\n\w]{0,3}(?:[a-z]{1,12}[^\n\w]{1,3}){0,2}"
            r"(?P<secret>(?=[0-9A-Za-z+/_\-]*\d)[0-9A-Za-z+/_\-]{20,512}={0,2})(?![0-9A-Za-z+/_\-=])"
        ),
        ("secret", "token", "key", "pass", "credential", "signature"),
        entropy=3.3,
    ),
)

PII_RULES: tuple[Rule, ...] = (
    Rule(
        "email",
        re.compile(
            r"(?P<secret>(?<![\w.%+\-])[A-Za-z0-9._%+\-]{1,64}@[A-Za-z0-9\-]{1,63}(?:\.[A-Za-z0-9\-]{1,63})*\.[A-Za-z]{2,24})\b"
        ),
        ("@",),
        pii=True,
    ),
    Rule(
        "ipv4",
        re.compile(
            r"(?<![\w.])(?P<secret>(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
            r"(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})(?![\w.])"
        ),
        (".",),
        pii=True,
    ),
    Rule(
        "ipv6",
        # Full eight-group form, or a compressed form with "::"; times (12:30:45) are neither.
        re.compile(
            r"(?<![\w:])(?P<secret>(?:[0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}"
            r"|(?:[0-9A-Fa-f]{1,4}:){1,7}:(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6})?"
            r"|::(?:[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){0,6}))(?![\w:])"
        ),
        ("::", ":"),
        pii=True,
    ),
)

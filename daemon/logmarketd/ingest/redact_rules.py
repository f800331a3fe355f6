"""The secret and PII rules that :mod:`logmarketd.ingest.redact` applies: data, not code.

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

from logmarketd.models import Severity

__all__ = ["PII_RULES", "PLACEHOLDER_VALUE", "SECRET_RULES", "Rule"]


@dataclass(frozen=True, slots=True)
class Rule:
    """One detector. ``id`` is the type written into the placeholder.

    ``keywords`` are lowercase; an empty tuple runs the rule on every text. ``label`` names
    the kind of secret for people and ``severity`` says how bad its leak is (the Security
    Guardian reports a leak with both, for the rules that ``report``).
    """

    id: str
    regex: re.Pattern[str]
    keywords: tuple[str, ...]
    entropy: float = 0.0
    allow: re.Pattern[str] | None = None
    pii: bool = False
    # The regex is written in lower case and runs on the lowercased text: a case-insensitive
    # regex cannot use re's fast prefix scan and costs about ten times more.
    lowercase: bool = False
    # The match must start at a word boundary (checked in code: a leading \b would also
    # disable the prefix scan).
    word_start: bool = False
    label: str = ""
    severity: Severity = "high"
    # A hit is evidence of a leak (the Security Guardian reports it); False: the value is
    # redacted as a precaution, but such hits are as often ids or words as credentials.
    report: bool = True
    # Its matches span lines (a PEM block): searched in the whole text, never line by line.
    multiline: bool = False


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

_KEY_SUFFIX = r"(?:[_-]?(?:key|token|value|hash|string))?"
# Keys that name a credential: a value under one is a leak worth reporting. A bare "pass" is a
# key when it ends a longer one (db_pass) or takes "=" (--pass=x); a word "pass" before ":" is
# a test result (--- PASS: TestAdd, PASS: t/parse.test).
_SECRET_KEY = (
    # (A flat alternation of literals: re skips positions whose first character starts none.)
    # "pwd" before an absolute path is the working directory (sudo's PWD=/home/ann).
    r"(?:pass(?:word|wd|phrase|(?<=[\w-]pass)|(?![ \t]*:(?!=)))|pwd(?![ \t]*[=:][ \t]*/)|secret|"
    r"api[_-]?key|apikey|"
    r"access[_-]?key|private[_-]?key|signing[_-]?key|encryption[_-]?key|"
    r"access[_-]?token|auth[_-]?token|refresh[_-]?token|api[_-]?token)" + _KEY_SUFFIX
)
# Keys that name a credential as often as an id, a scheme or an object (sessionid: 0x14ede6…,
# auth:SIMPLE, token=Token{a64f992}): their values are redacted all the same, but a hit is no
# evidence of a leak.
_TOKEN_KEY = r"(?:token|auth|credentials?|session[_-]?id|cookie)" + _KEY_SUFFIX


def _kv(key: str) -> re.Pattern[str]:
    """key=value, key: value, "key": "value", key => value for the keys ``key`` matches. The
    keyword may be the tail of a longer key (db_password, x-api-key, clientSecret,
    AWS_SECRET_ACCESS_KEY) but the key must end right after it, so ``token_count=512``,
    ``max_tokens: 10`` and ``author: Ann`` are not candidates."""
    return re.compile(
        r"""(?x)"""
        + key
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


_KV_STATUS = re.compile(
    r"(?i)ok|success(?:ful)?|succeeded|fail(?:ed|ure)?|denied|error|invalid|expired|missing|"
    r"valid|enabled|disabled|basic|bearer|digest|oauth2?|oidc|saml|ldap|sso|jwt|mtls|"
    r"anonymous|internal|external|default|refresh(?:ed)?|rotated|revoked|pending"
)

SECRET_RULES: tuple[Rule, ...] = (
    Rule(
        "private-key",
        # A whole PEM block when the text holds it, else the header plus the base64 lines
        # that follow it (a block cut by a window, or lines joined with literal "\n").
        re.compile(
            r"(?P<secret>-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            r"(?:(?:[A-Za-z0-9+/=\s:,\\]|-(?!----)){0,16384}"
            r"-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----"
            r"|(?:(?:\\n|\r?\n|[ \t]+)[A-Za-z0-9+/=]{16,}){0,400}))"
        ),
        ("private key",),
        multiline=True,
        label="private key",
        severity="critical",
    ),
    Rule(
        "aws-access-key",
        re.compile(r"(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})(?![A-Za-z0-9_])"),
        ("akia", "asia", "abia", "acca", "a3t"),
        word_start=True,
        label="AWS access key id",
        severity="critical",
    ),
    Rule(
        "aws-secret-key",
        re.compile(
            r"aws[\w.\-]{0,20}?(?:secret|sk|key)[\w.\-]{0,20}?[\"']?\s*(?:=|:|=>)\s*[\"']?"
            r"(?P<secret>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+])"
        ),
        ("aws",),
        entropy=3.5,
        lowercase=True,
        label="AWS secret access key",
        severity="critical",
    ),
    Rule(
        "github-token",
        re.compile(r"(?P<secret>gh[pousr]_[0-9A-Za-z]{36,255})(?![A-Za-z0-9_])"),
        ("ghp_", "gho_", "ghs_", "ghu_", "ghr_"),
        word_start=True,
        label="GitHub token",
        severity="critical",
    ),
    Rule(
        "github-fine-grained-token",
        re.compile(r"(?P<secret>github_pat_[0-9A-Za-z_]{22,255})(?![A-Za-z0-9_])"),
        ("github_pat_",),
        word_start=True,
        label="GitHub fine-grained token",
        severity="critical",
    ),
    Rule(
        "gitlab-token",
        re.compile(
            r"(?P<secret>gl(?:pat|dt|rt|ptt|ft|cbt|oas|soat|imt|agent|ffct)-[0-9A-Za-z_\-]{20,64})"
            r"(?![0-9A-Za-z_\-])"
        ),
        ("gl",),
        word_start=True,
        label="GitLab token",
        severity="critical",
    ),
    Rule(
        "slack-webhook",
        re.compile(
            r"(?P<secret>hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/_\-]{20,512})"
        ),
        ("hooks.slack.com",),
        label="Slack webhook URL",
    ),
    Rule(
        "slack-token",
        re.compile(
            r"(?P<secret>xox[abposre]-(?<![0-9A-Za-z\-]xox[abposre]-)[0-9A-Za-z\-]{10,250}"
            r"|xapp-\d-[A-Z0-9]{1,64}-\d{1,32}-[a-z0-9]{1,128})"
        ),
        ("xox", "xapp-"),
        word_start=True,
        label="Slack token",
    ),
    Rule(
        "stripe-key",
        re.compile(
            # alternatives that each start with a literal: re scans for their first characters
            r"(?P<secret>sk_(?:test|live|prod)_[0-9A-Za-z]{10,247}|rk_(?:test|live|prod)_[0-9A-Za-z]{10,247}"
            r"|whsec_[0-9A-Za-z]{24,256})"
            r"(?![A-Za-z0-9_])"
        ),
        ("k_test_", "k_live_", "k_prod_", "whsec_"),
        word_start=True,
        label="Stripe secret key",
        severity="critical",
    ),
    Rule(
        "google-api-key",
        re.compile(r"(?P<secret>AIza[0-9A-Za-z\-_]{35})(?![0-9A-Za-z\-_])"),
        ("aiza",),
        word_start=True,
        label="Google API key",
    ),
    Rule(
        "anthropic-key",
        re.compile(
            r"(?P<secret>sk-ant-(?<![0-9A-Za-z_\-]sk-ant-)[a-z]{3,8}\d{2}-[0-9A-Za-z_\-]{20,512})"
        ),
        ("sk-ant-",),
        word_start=True,
        label="Anthropic API key",
        severity="critical",
    ),
    Rule(
        "openai-key",
        re.compile(
            r"(?P<secret>sk-(?<![0-9A-Za-z_\-]sk-)"
            r"(?:(?:(?:proj|svcacct|admin|None)-)?[0-9A-Za-z_\-]{20,256}T3BlbkFJ[0-9A-Za-z_\-]{20,256}"
            r"|(?:proj|svcacct|admin)-[0-9A-Za-z_\-]{40,512}))"
        ),
        ("sk-",),
        word_start=True,
        label="OpenAI API key",
        severity="critical",
    ),
    Rule(
        "npm-token",
        re.compile(r"(?P<secret>npm_[0-9A-Za-z]{36})(?![A-Za-z0-9_])"),
        ("npm_",),
        word_start=True,
        label="npm token",
        severity="critical",
    ),
    Rule(
        "sendgrid-key",
        re.compile(r"(?P<secret>SG\.[0-9A-Za-z_\-]{22}\.[0-9A-Za-z_\-]{43})(?![A-Za-z0-9_\-])"),
        ("sg.",),
        word_start=True,
        label="SendGrid API key",
    ),
    Rule(
        "huggingface-token",
        re.compile(r"(?P<secret>hf_[A-Za-z]{34})(?![A-Za-z0-9_])"),
        ("hf_",),
        word_start=True,
        label="Hugging Face token",
    ),
    Rule(
        "shopify-token",
        re.compile(r"(?P<secret>shp(?:at|ca|pa|ss)_[0-9a-fA-F]{32})(?![A-Za-z0-9_])"),
        ("shpat_", "shpca_", "shppa_", "shpss_"),
        word_start=True,
        label="Shopify token",
        severity="critical",
    ),
    Rule(
        "azure-storage-key",
        re.compile(r"accountkey\s*=\s*(?P<secret>[0-9a-z+/]{86}==)"),
        ("accountkey",),
        lowercase=True,
        label="Azure storage account key",
        severity="critical",
    ),
    Rule(
        "jwt",
        re.compile(
            r"(?P<secret>eyJ(?<![0-9A-Za-z_\-]eyJ)[0-9A-Za-z_\-]{8,2048}"
            r"\.eyJ[0-9A-Za-z_\-]{8,8192}\.[0-9A-Za-z_\-]{0,2048})"
        ),
        ("eyj",),
        word_start=True,
        label="JSON Web Token",
    ),
    Rule(
        "url-password",
        # scheme://user:password@host: only the password goes. The password may hold an
        # unescaped '@' or ':' (it happens): it runs to the last '@' before the host.
        re.compile(
            r"://[^\s:/@?#\"']{0,256}:(?P<secret>[^\s/?#\"']{1,256})@(?=[^\s@/:?#\"']{1,256})"
        ),
        ("://",),
        label="password in URL",
    ),
    Rule(
        "authorization-header",
        re.compile(
            # "proxy-authorization" matches from its "authorization": a literal first is
            # what lets re skip ahead (an optional prefix group makes it try every position).
            r"authorization[\"']?\s*[:=]\s*[\"']?"
            r"(?:(?:bearer|basic|token|digest|negotiate|apikey|aws4-hmac-sha256)\s+)?"
            r"(?P<secret>[^\s\"',;]{4,1024})"
        ),
        ("authorization",),
        lowercase=True,
        label="credentials in Authorization header",
    ),
    Rule(
        "bearer-token",
        re.compile(r"bearer\s{1,16}(?P<secret>[0-9a-z\-._~+/]{16,2048}={0,2})"),
        ("bearer",),
        entropy=3.0,
        lowercase=True,
        label="bearer token",
    ),
    Rule(
        "basic-auth",
        re.compile(r"Basic\s{1,16}(?P<secret>[0-9A-Za-z+/]{8,2048}={0,2})(?![0-9A-Za-z+/=])"),
        ("basic",),
        entropy=3.0,
        # Base64 of "user:pass" always holds a digit, '+', '/' or '=' or mixed case; prose
        # ("Basic information") is one case-run of letters.
        allow=re.compile(r"[A-Z]?[a-z]+|[A-Z]+"),
        label="Basic auth credentials",
    ),
    Rule(
        "keyword-secret",
        _kv(_SECRET_KEY),
        ("pass", "pwd", "secret", "key", "token"),
        entropy=1.5,
        # Words that follow "auth=" or "token:" in ordinary logs: outcomes and schemes.
        allow=_KV_STATUS,
        lowercase=True,
        label="password or secret in key=value",
    ),
    Rule(
        "keyword-token",
        _kv(_TOKEN_KEY),
        ("token", "auth", "credential", "session", "cookie"),
        entropy=1.5,
        allow=_KV_STATUS,
        lowercase=True,
        label="token, session or cookie in key=value",
        report=False,
    ),
    Rule(
        "keyword-high-entropy",
        # A long random-looking word a few words after a secret-ish keyword, without a
        # separator ("using token 8f3a...", "api key abcd..."): only near such keywords.
        re.compile(
            r"(?:secret|token|api[_ -]?key|apikey|password|passwd|credential|signature)s?"
            r"\b[^\n\w]{0,3}(?:[a-z]{1,12}[^\n\w]{1,3}){0,2}"
            r"(?P<secret>(?=[0-9a-z+/_\-]{0,511}\d)[0-9a-z+/_\-]{20,512}={0,2})(?![0-9a-z+/_\-=])"
        ),
        ("secret", "token", "key", "pass", "credential", "signature"),
        entropy=3.3,
        lowercase=True,
        label="secret-like value after a secret keyword",
        severity="medium",
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
        label="e-mail address",
        severity="low",
    ),
    Rule(
        "ipv4",
        re.compile(
            r"(?<![\w.])(?P<secret>(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
            r"(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3})(?![\w.])"
        ),
        (".",),
        pii=True,
        label="IPv4 address",
        severity="low",
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
        label="IPv6 address",
        severity="low",
    ),
)

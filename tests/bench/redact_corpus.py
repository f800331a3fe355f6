"""A labelled synthetic log for the redaction benchmark: benign lines, hard negatives, secrets.

Secrets are random (seeded) in each family's real format, placed in the contexts where they
show up in logs: env dumps, JSON bodies, URLs, headers, CLI echoes, stack traces, and a few
in prose, where a pattern-based tool cannot tell them from words (those lower recall on purpose:
the figure is meant to be honest, not flattering).
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Corpus", "Secret", "make_corpus"]

ALNUM = string.ascii_letters + string.digits
UPPER = string.ascii_uppercase
HEX = "0123456789abcdef"


@dataclass(frozen=True)
class Secret:
    """A labelled secret: its family, 0-based line, span in that line, and value."""

    family: str
    line: int
    start: int
    end: int
    value: str


@dataclass
class Corpus:
    lines: list[str] = field(default_factory=list)
    secrets: list[Secret] = field(default_factory=list)
    # Lines where a hit is not a false positive although no secret is labelled there
    # (the BEGIN/END lines of a PEM block).
    tolerated: set[int] = field(default_factory=set)

    def secret_lines(self) -> set[int]:
        return {s.line for s in self.secrets}

    def overlaps(self, line: int, start: int, end: int) -> bool:
        if line in self.tolerated:
            return True
        return any(s.line == line and s.start < end and start < s.end for s in self.secrets)

    def prefix(self, n: int) -> Corpus:
        # Cut at a line that starts no PEM block so labels stay whole.
        return Corpus(
            self.lines[:n],
            [s for s in self.secrets if s.line < n],
            {t for t in self.tolerated if t < n},
        )


class _Gen:
    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.r.choice(alphabet) for _ in range(n))

    def ts(self) -> str:
        return (
            f"2024-{self.r.randint(1, 12):02d}-{self.r.randint(1, 28):02d}T"
            f"{self.r.randint(0, 23):02d}:{self.r.randint(0, 59):02d}:{self.r.randint(0, 59):02d}."
            f"{self.r.randint(0, 999):03d}Z"
        )

    def ip(self) -> str:
        return ".".join(str(self.r.randint(1, 254)) for _ in range(4))

    def uuid(self) -> str:
        h = self.s(HEX, 32)
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def human_password(self) -> str:
        word = self.r.choice(
            ["Summer", "dragon", "Monkey", "letmein", "Qwerty", "shadow", "Tr0ub4dor"]
        )
        return f"{word}{self.r.randint(10, 9999)}{self.r.choice(['!', '#', '', '$', '&3'])}"

    def b64url(self, obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")


# -- benign lines (the bulk of any log) ---------------------------------------------------------


def _benign(g: _Gen) -> str:
    r = g.r
    choice = r.randrange(18)
    ts = g.ts()
    if choice == 0:
        return (
            f'{g.ip()} - - [{ts}] "GET /api/v1/users/{r.randint(1, 99999)}?page={r.randint(1, 9)} HTTP/1.1" '
            f'{r.choice([200, 200, 200, 304, 404, 500])} {r.randint(100, 99999)} "-" "Mozilla/5.0"'
        )
    if choice == 1:
        return f"{ts} INFO  request_id={g.uuid()} method=POST path=/orders status=201 duration_ms={r.randint(1, 900)}"
    if choice == 2:
        return f"{ts} DEBUG sqlalchemy.engine SELECT users.id, users.email FROM users WHERE users.id = %(id_1)s LIMIT {r.randint(1, 50)}"
    if choice == 3:
        return f'  File "/app/services/billing.py", line {r.randint(1, 900)}, in charge_customer'
    if choice == 4:
        return f"{ts} ERROR worker-{r.randint(1, 16)} job {g.uuid()} failed: ConnectionResetError: [Errno 104] Connection reset by peer"
    if choice == 5:
        return f"commit {g.s(HEX, 40)} Merge pull request #{r.randint(1, 9999)} from org/feature-{r.randint(1, 99)}"
    if choice == 6:
        return f"Step {r.randint(1, 30)}/30 : RUN pip install -r requirements.txt ---> Using cache ---> {g.s(HEX, 12)}"
    if choice == 7:
        return f"pulling image registry.local/app@sha256:{g.s(HEX, 64)}"
    if choice == 8:
        return f"{ts} WARN  llm usage prompt_tokens={r.randint(10, 9000)} token_count={r.randint(1, 999)} max_tokens: 1024"
    if choice == 9:
        return (
            f"tests/test_api.py::test_create_order[{r.randint(1, 40)}] PASSED [{r.randint(1, 99)}%]"
        )
    if choice == 10:
        return f"{ts} INFO  auth: password reset requested for user_id={r.randint(1, 99999)}; token expires in 15m"
    if choice == 11:
        return f"Normal  Scheduled  pod/web-{g.s('bcdfghjklmnpqrstvwxz2456789', 10)}-{g.s('bcdfghjklmnpqrstvwxz2456789', 5)}  Successfully assigned default/web to node-{r.randint(1, 9)}"
    if choice == 12:
        return f"{ts} INFO  cache hit ratio={r.random():.3f} keys={r.randint(1, 10**6)} evicted={r.randint(0, 999)}"
    if choice == 13:
        return f"{ts} INFO  config loaded: password=****** api_key=${{API_KEY}} secret=<redacted> auth=true"
    if choice == 14:
        return f"{ts} WARN  Authorization header missing on /internal/metrics from {g.ip()}; api key rotation due in {r.randint(1, 30)} days"
    if choice == 16:
        # Ordinary words after secret-ish keys: the false positives a key=value rule risks.
        return r.choice(
            [
                f"{ts} INFO  auth=failed user=u{r.randint(1, 999)} reason=bad_credentials",
                f"{ts} INFO  auth: success method=oauth2 user=u{r.randint(1, 999)}",
                f"{ts} DEBUG optimizer pass=second changed={r.randint(0, 40)}",
                'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
                f"{ts} INFO  token_type=bearer expires_in={r.randint(60, 3600)} scope=read",
                f"{ts} WARN  password_policy: min_length=12 history={r.randint(1, 9)}",
                f"{ts} INFO  secret_name=db-creds namespace=prod rotated=true",
                f"{ts} INFO  grant_type=password client_id=web-{r.randint(1, 9)}",
            ]
        )
    if choice == 17:
        return f"{ts} INFO  upload sha256={g.s(HEX, 64)} etag={g.s(HEX, 32)} object=backups/{g.uuid()}.tar"
    return f"{ts} INFO  GC pause {r.random() * 50:.2f}ms heap={r.randint(100, 4000)}MB session=web-{r.randint(1, 9)}"


# -- secrets in context --------------------------------------------------------------------------

Maker = Callable[[_Gen], tuple[str, str, str]]  # (family, secret, line with {S} placeholder)


def _secret_makers() -> list[Maker]:
    def aws_id(g: _Gen) -> tuple[str, str, str]:
        sec = g.r.choice(["AKIA", "ASIA"]) + g.s(UPPER + "234567", 16)
        tpl = g.r.choice(
            [
                "boto3 credentials loaded: access_key={S}",
                "export AWS_ACCESS_KEY_ID={S}",
                '{"AccessKeyId": "{S}"}',
            ]
        )
        return "aws-access-key", sec, tpl

    def aws_secret(g: _Gen) -> tuple[str, str, str]:
        sec = g.s(ALNUM + "/+", 40)
        tpl = g.r.choice(
            ["AWS_SECRET_ACCESS_KEY={S}", "aws_secret_access_key = {S}", '"aws_secret_key": "{S}"']
        )
        return "aws-secret-key", sec, tpl

    def github(g: _Gen) -> tuple[str, str, str]:
        if g.r.random() < 0.3:
            sec = "github_pat_" + g.s(ALNUM, 22) + "_" + g.s(ALNUM, 59)
        else:
            sec = g.r.choice(["ghp_", "gho_", "ghs_"]) + g.s(ALNUM, 36)
        tpl = g.r.choice(
            [
                "git push https://x-access-token:{S}@github.com/org/repo.git",
                "GITHUB_TOKEN={S}",
                "using {S} for the release upload",
            ]
        )
        return "github-token", sec, tpl

    def gitlab(g: _Gen) -> tuple[str, str, str]:
        return (
            "gitlab-token",
            "glpat-" + g.s(ALNUM + "-_", 20),
            "curl --header 'PRIVATE-TOKEN: {S}' https://gitlab.local/api/v4/projects",
        )

    def slack(g: _Gen) -> tuple[str, str, str]:
        if g.r.random() < 0.5:
            sec = f"xoxb-{g.s(string.digits, 12)}-{g.s(string.digits, 13)}-{g.s(ALNUM, 24)}"
            return "slack-token", sec, "slack client init token {S}"
        sec = f"T{g.s(UPPER + string.digits, 8)}/B{g.s(UPPER + string.digits, 8)}/{g.s(ALNUM, 24)}"
        return "slack-webhook", sec, "POST https://hooks.slack.com/services/{S} -> 200"

    def stripe(g: _Gen) -> tuple[str, str, str]:
        sec = g.r.choice(["sk_live_", "sk_test_", "rk_live_"]) + g.s(ALNUM, g.r.randint(24, 99))
        return (
            "stripe-key",
            sec,
            g.r.choice(["stripe.api_key set to {S}", "Stripe error for key {S}: card_declined"]),
        )

    def google(g: _Gen) -> tuple[str, str, str]:
        return (
            "google-api-key",
            "AIza" + g.s(ALNUM + "-_", 35),
            "GET https://maps.googleapis.com/maps/api/geocode/json?address=x&key={S}",
        )

    def openai(g: _Gen) -> tuple[str, str, str]:
        if g.r.random() < 0.5:
            sec = "sk-proj-" + g.s(ALNUM + "-_", g.r.randint(48, 120))
        else:
            sec = "sk-" + g.s(ALNUM, 20) + "T3BlbkFJ" + g.s(ALNUM, 20)
        return (
            "openai-key",
            sec,
            g.r.choice(
                [
                    "OPENAI_API_KEY={S}",
                    "openai.AuthenticationError: Incorrect API key provided: {S}",
                ]
            ),
        )

    def anthropic(g: _Gen) -> tuple[str, str, str]:
        sec = "sk-ant-api03-" + g.s(ALNUM + "-_", 93) + "AA"
        return "anthropic-key", sec, "anthropic client created with x-api-key {S}"

    def jwt(g: _Gen) -> tuple[str, str, str]:
        sec = (
            g.b64url({"alg": "HS256", "typ": "JWT"})
            + "."
            + g.b64url({"sub": g.r.randint(1, 10**6), "exp": g.r.randint(10**9, 2 * 10**9)})
            + "."
            + g.s(ALNUM + "-_", 43)
        )
        return (
            "jwt",
            sec,
            g.r.choice(
                [
                    "Authorization: Bearer {S}",
                    "set-cookie: session={S}; HttpOnly",
                    "decoded jwt {S} invalid signature",
                ]
            ),
        )

    def url_password(g: _Gen) -> tuple[str, str, str]:
        sec = g.s(ALNUM, g.r.randint(8, 20)) + g.r.choice(["!", "%21", "-", "_", ""])
        tpl = g.r.choice(
            [
                "connecting to postgres://app:{S}@db.internal:5432/main",
                "redis://:{S}@cache:6379/0 timeout",
                "amqp://worker:{S}@mq.local/vhost",
            ]
        )
        return "url-password", sec, tpl

    def kv_password(g: _Gen) -> tuple[str, str, str]:
        sec = g.human_password()
        tpl = g.r.choice(
            [
                "login attempt user=alice password={S} result=denied",
                '{"username": "bob", "password": "{S}"}',
                "DB_PASSWORD={S}",
                "  db_pass: {S}",
                "mysql -u root -p{S}",  # no separator: a miss for key=value rules
            ]
        )
        return "password-field", sec, tpl

    def kv_token(g: _Gen) -> tuple[str, str, str]:
        sec = g.s(HEX if g.r.random() < 0.5 else ALNUM, g.r.choice([24, 32, 40]))
        tpl = g.r.choice(
            [
                "api_key: {S}",
                '"client_secret":"{S}"',
                "X-API-Key={S}",
                "GET /callback?code=1&access_token={S}&state=2",
            ]
        )
        return "token-field", sec, tpl

    def auth_header(g: _Gen) -> tuple[str, str, str]:
        if g.r.random() < 0.5:
            sec = base64.b64encode(f"svc:{g.human_password()}".encode()).decode()
            return "authorization-header", sec, "Authorization: Basic {S}"
        sec = g.s(ALNUM + "-._~", g.r.randint(20, 60))
        return "authorization-header", sec, "> Authorization: Bearer {S}"

    def near_keyword(g: _Gen) -> tuple[str, str, str]:
        sec = g.s(HEX, 40)
        return (
            "high-entropy-near-keyword",
            sec,
            g.r.choice(["refreshing token {S} for tenant 7", "webhook signature {S} mismatch"]),
        )

    def prose(g: _Gen) -> tuple[str, str, str]:
        sec = g.human_password()
        return (
            "password-in-prose",
            sec,
            g.r.choice(
                ["user said the password is {S} and it failed", "temporary creds for vpn: {S}"]
            ),
        )

    return [
        aws_id,
        aws_secret,
        github,
        gitlab,
        slack,
        stripe,
        google,
        openai,
        anthropic,
        jwt,
        url_password,
        kv_password,
        kv_token,
        auth_header,
        near_keyword,
        prose,
    ]


def _pem(g: _Gen) -> list[str]:
    kind = g.r.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"])
    body = [g.s(ALNUM + "+/", 64) for _ in range(g.r.randint(4, 25))]
    return [f"-----BEGIN {kind}-----", *body, f"-----END {kind}-----"]


def make_corpus(
    n_lines: int, *, seed: int = 7, secret_share: float = 0.04, pem_share: float = 0.001
) -> Corpus:
    """``n_lines`` lines, about ``secret_share`` of them with one secret, a few PEM blocks."""
    g = _Gen(random.Random(seed))
    makers = _secret_makers()
    corpus = Corpus()
    while len(corpus.lines) < n_lines:
        roll = g.r.random()
        if roll < pem_share and len(corpus.lines) + 30 < n_lines:
            block = _pem(g)
            first = len(corpus.lines)
            corpus.tolerated.update({first, first + len(block) - 1})
            for offset, line in enumerate(block[1:-1], start=1):
                corpus.secrets.append(Secret("private-key", first + offset, 0, len(line), line))
            corpus.lines.extend(block)
        elif roll < pem_share + secret_share:
            family, sec, tpl = g.r.choice(makers)(g)
            prefix = f"{g.ts()} INFO  " if g.r.random() < 0.7 else ""
            line = prefix + tpl.replace("{S}", sec)
            start = line.index(sec)
            corpus.secrets.append(Secret(family, len(corpus.lines), start, start + len(sec), sec))
            corpus.lines.append(line)
        else:
            corpus.lines.append(_benign(g))
    return corpus

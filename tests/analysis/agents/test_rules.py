"""Rules kept as data (web attacks, secrets, duration units) each prove their examples."""

from __future__ import annotations

import pytest
from logmarketd.analysis.agents.base import AgentConfig, Context
from logmarketd.analysis.agents.durations import collect, to_ms
from logmarketd.analysis.agents.secrets import leaked_secrets
from logmarketd.analysis.agents.webrules import RULES
from logmarketd.analysis.analyse import inspect_log
from logmarketd.ingest.redact_rules import SECRET_RULES

_WEB_CASES = [(r, text, True) for r in RULES for text in r.positives] + [
    (r, text, False) for r in RULES for text in r.negatives
]


@pytest.mark.parametrize(
    ("rule", "text", "hit"), _WEB_CASES, ids=lambda v: getattr(v, "id", str(v))[:40]
)
def test_web_rule_examples(rule: object, text: str, hit: bool) -> None:
    """Every web-attack rule matches its positive examples and none of its negative ones."""
    from logmarketd.analysis.agents.webrules import WebRule

    assert isinstance(rule, WebRule)
    low = text.lower()
    matched = any(n in low for n in rule.needles) and bool(rule.pattern.search(text))
    assert matched is hit


def test_web_rules_have_examples_both_ways() -> None:
    """No rule ships without positive and negative examples."""
    for rule in RULES:
        assert rule.positives and rule.negatives, rule.id


# One line per rule of the redactor's table (the only secret rule table), keyed by rule id.
_SECRET_POS = {
    "private-key": "-----BEGIN RSA PRIVATE KEY-----",
    "aws-access-key": "key=AKIAIOSFODNN7EXAMPLE",
    "aws-secret-key": "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github-token": "token ghp_16C7e42F292c6912E7710c838347Ae178B4a loaded",
    "github-fine-grained-token": "GH=github_pat_11AAAAAAA0abcdefghijkl_mnopqrstuvwxyzABCDEFGH",
    "gitlab-token": "GITLAB=glpat-abcdefghij0123456789",
    "slack-webhook": "notify https://hooks.slack.com/services/T0A1B2C3D/B4E5F6G7H/q9W8e7R6t5Y4u3I2o1P0",
    "slack-token": "slack xoxb-123456789012-abcdefghij",
    "stripe-key": "stripe sk_live_51HkQ2aLx9Vb3ZpT8qW7eR4tY",
    "google-api-key": "maps AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "anthropic-key": "client sk-ant-api03-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7-AbCd_EfGh",
    "openai-key": "OPENAI_API_KEY=sk-proj-Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef3Hi6Kl9No2Qr5",
    "npm-token": "//registry.npmjs.org/:_authToken npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    "sendgrid-key": "mail via SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ012",
    "huggingface-token": "hub login hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    "shopify-token": "X-Shopify-Access-Token shpat_0123456789abcdef0123456789abcdef",
    "azure-storage-key": "AccountName=acct;AccountKey=" + "Ab1+" * 21 + "Zz==;EndpointSuffix=core",
    "jwt": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMtc3luYyJ9.dGhpc2lzbm90YXJlYWxzaWdu",
    "url-password": "dsn=postgresql://billing:S3cr3tPassw0rd@db.internal:5432/billing",
    "authorization-header": "> Authorization: Basic ZGVwbG95Omh1bnRlcjI=",
    "bearer-token": "curl -H 'X: Bearer 9f8e7d6c5b4a39281706f5e4'",
    "basic-auth": "proxy sent Basic ZGVwbG95Omh1bnRlcjI= upstream",
    "keyword-secret": "login user=bob password=hunter2hunter2",
    "keyword-high-entropy": "using api key a8f5f167f44f4964e6c998dee827110c for tenant",
}
_SECRET_NEG = [
    "password=********",
    "host sudo:    ann : TTY=pts/0 ; PWD=/home/ann ; USER=root ; COMMAND=/usr/bin/apt update",
    "password: <redacted>",
    "api_key=${API_KEY}",
    "connecting to postgresql://db.internal:5432/billing",
    "the password field is required",
    "secret rotation finished in 12ms",
    "--- PASS: TestAddZero (0.001s)",
]


@pytest.mark.parametrize("rid", [r.id for r in SECRET_RULES if r.report])
def test_secret_rule_positive(rid: str) -> None:
    """Each secret rule finds its kind of secret in a real-looking line, names it with the
    rule's label and severity, and masks it in the title."""
    line = _SECRET_POS[rid]
    found = leaked_secrets(Context(line + "\n", "runtime"))
    (f,) = [f for f in found if f.key.startswith(f"secret:{rid}:")] or [None]
    assert f is not None, [f.key for f in found]
    rule = next(r for r in SECRET_RULES if r.id == rid)
    assert rule.label in f.title and f.severity == rule.severity
    for g in found:
        for secret in g.secrets:
            assert secret not in g.title


@pytest.mark.parametrize("line", _SECRET_NEG)
def test_secret_rules_negative(line: str) -> None:
    """Placeholders, masked values, host-only URLs and test results are not reported as leaks."""
    assert leaked_secrets(Context(line + "\n", "runtime")) == []


def test_precautionary_rules_redact_but_report_nothing() -> None:
    """Values under keys that name ids as often as credentials are redacted, not reported."""
    from logmarketd.ingest.redact import redact

    for line in (
        "Processed session termination for sessionid: 0x14ede63a5a70002",
        "Skipping AppWindowToken{df0798e token=Token{78af589 ActivityRecord{3b04890 u0 t761}}",
        "Auth successful for job_1445144423722_0020 (auth:SIMPLE)",
    ):
        assert "<REDACTED:keyword-token:" in redact(line), line
        assert leaked_secrets(Context(line + "\n", "runtime")) == [], line


def test_private_key_block_is_one_finding_with_its_body_masked() -> None:
    """A PEM block: one finding on its header line, naming the key's type; every body line is
    a secret to mask, the header is not."""
    body = ["MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun", "VTLw7onLRnrq0/Iz"]
    log = (
        "boot\n-----BEGIN RSA PRIVATE KEY-----\n"
        + "\n".join(body)
        + "\n-----END RSA PRIVATE KEY-----\n"
    )
    (f,) = leaked_secrets(Context(log, "runtime"))
    assert (f.title, f.lines, f.severity) == (
        "leaked secret (private key), RSA PRIVATE KEY",
        [1],
        "critical",
    )
    assert f.secrets == body


def test_allowlisted_secret_value_is_ignored() -> None:
    """A value on the allowlist setting is not reported."""
    cfg = AgentConfig(allow_secret_values=frozenset({"hunter2hunter2"}))
    assert leaked_secrets(Context("password=hunter2hunter2\n", "runtime", cfg)) == []


@pytest.mark.parametrize(
    ("value", "unit", "ms"),
    [
        (1234, "ms", 1234.0),
        (1.5, "s", 1500.0),
        (2, "min", 120_000.0),
        (250, "us", 0.25),
        (3, "seconds", 3000.0),
    ],
)
def test_units_normalise_to_ms(value: float, unit: str, ms: float) -> None:
    """Durations are normalised to milliseconds at parse time."""
    assert to_ms(value, unit) == pytest.approx(ms)


def test_duration_spellings_grouped_per_template() -> None:
    """Different spellings parse, and the same message shape forms one group with every sample."""
    log = "\n".join(
        [
            "2024-05-01 10:00:00 INFO GET /api/a took 1200ms",
            "2024-05-01 10:00:01 INFO GET /api/a took 900ms",
            "2024-05-01 10:00:02 INFO job finished in 12.5s",
            "2024-05-01 10:00:03 LOG:  duration: 250.5 ms  statement: SELECT * FROM t WHERE id = 7",
            "2024-05-01 10:00:04 INFO request done latency_ms=87",
            "2024-05-01 10:00:05 INFO MotionEvent eventTime=123456789 downTime=123456000",
        ]
    )
    groups = {
        (g.kind, g.template): sorted(s.ms for s in g.samples)
        for g in collect(Context(log, "runtime"))
    }
    assert groups[("http", "GET /api/a took <n>ms")] == [900.0, 1200.0]
    assert groups[("sql", "SELECT * FROM t WHERE id = <n>")] == [250.5]
    assert any(v == [12500.0] for v in groups.values())
    assert any(v == [87.0] for v in groups.values())
    assert not any(v[0] > 1e6 for v in groups.values()), "epoch timestamps are not durations"


def test_mysql_slow_log_and_json_duration_fields() -> None:
    """MySQL slow-log entries are grouped by statement; JSON duration fields (Mongo) parse."""
    log = (
        "# Time: 2024-05-01T10:00:00.123456Z\n# User@Host: app[app] @ localhost []  Id: 8\n"
        "# Query_time: 2.500213  Lock_time: 0.000000 Rows_sent: 1  Rows_examined: 90000\n"
        "SET timestamp=1714557600;\nSELECT * FROM orders WHERE note LIKE '%x%';\n"
        '{"t":{"$date":"2024-05-01T10:00:01Z"},"c":"COMMAND","msg":"Slow query","attr":{"ns":"shop.orders","durationMillis":1234}}\n'
    )
    groups = {
        (g.kind, g.template): [s.ms for s in g.samples] for g in collect(Context(log, "runtime"))
    }
    assert groups[("sql", "SELECT * FROM orders WHERE note LIKE '%x%';")] == [
        pytest.approx(2500.213)
    ]
    assert [1234.0] in groups.values()


@pytest.mark.parametrize("rid", [r.id for r in SECRET_RULES if r.report])
def test_a_secret_redacted_at_ingest_is_still_a_leak(rid: str) -> None:
    """A secret the daemon redacted as the record arrived (its keyed placeholder in the text)
    is reported as the same kind of leak, on its line, the same secret the same finding; the
    placeholder is all the finding holds (no value to mask)."""
    from logmarketd.ingest.redact import default_redactor

    redactor = default_redactor()
    line = redactor.redact(_SECRET_POS[rid])
    assert "<REDACTED:" in line
    log = f"start\n{line}\n{line}\n"
    found = [
        f for f in leaked_secrets(Context(log, "runtime")) if f.key.startswith(f"secret:{rid}:")
    ]
    assert len(found) == 1, [f.key for f in leaked_secrets(Context(log, "runtime"))]
    (f,) = found
    rule = next(r for r in SECRET_RULES if r.id == rid)
    assert f.severity == rule.severity and rule.label in f.title and f.lines[0] == 1
    assert f.count == 2 and f.secrets == []
    assert "redacted at ingest" in f.title


def test_a_placeholder_of_a_precautionary_rule_is_no_leak() -> None:
    line = "sessionid=<REDACTED:keyword-token:abc123> accepted"
    assert leaked_secrets(Context(line + "\n", "runtime")) == []


def test_a_published_leak_names_what_the_secret_was_given_to_and_is_not_itself_redacted() -> None:
    """The title once read "leaked secret: AWS secret access key (...)": the publisher's
    redactor took the words after "secret:" for a secret and hid them, and the finding never
    said which variable or header leaked."""
    log = (
        "+ export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        "+ curl -H 'Authorization: Bearer ghp_R8x2Lq9VtY4mN7cK1pZ6wE3sJ0hA5dF8gU2b' http://127.0.0.1/\n"
    )
    report = inspect_log(log, "deploy").report()
    threats = [s.threat for s in report.analysis.ai_insights.security_concerns]
    assert any("AWS_SECRET_ACCESS_KEY" in t for t in threats), threats
    assert any("Authorization" in t for t in threats), threats
    assert not any("<REDACTED" in t for t in threats), threats
    assert not any("wJalrXUtnFEMI" in t or "R8x2Lq9V" in t for t in threats), threats

"""Rules kept as data (web attacks, secrets, duration units) each prove their examples."""

from __future__ import annotations

import pytest
from logmarketd.analysis.agents.base import AgentConfig, Context
from logmarketd.analysis.agents.durations import collect, to_ms
from logmarketd.analysis.agents.secrets import SECRET_RULES, leaked_secrets
from logmarketd.analysis.agents.webrules import RULES

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


_SECRET_POS = {
    "aws-key-id": "key=AKIAIOSFODNN7EXAMPLE",
    "aws-secret": "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github-token": "token ghp_16C7e42F292c6912E7710c838347Ae178B4a loaded",
    "gitlab-token": "GITLAB=glpat-abcdefghij0123456789",
    "slack-token": "slack xoxb-123456789012-abcdefghij",
    "stripe-key": "stripe sk_live_51HkQ2aLx9Vb3ZpT8qW7eR4tY",
    "google-api-key": "maps AIzaSyA1234567890abcdefghijklmnopqrstuv",
    "openai-key": "OPENAI_API_KEY=sk-proj-abcdefghijklmnopqrstuvwxyz0123456789",
    "private-key": "-----BEGIN RSA PRIVATE KEY-----",
    "jwt": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJzdmMtc3luYyJ9.dGhpc2lzbm90YXJlYWxzaWdu",
    "url-credentials": "dsn=postgresql://billing:S3cr3tPassw0rd@db.internal:5432/billing",
    "auth-header": "> Authorization: Basic ZGVwbG95Omh1bnRlcjI=",
    "api-key-header": "X-Api-Key: 0123456789abcdef0123",
    "password-kv": "login user=bob password=hunter2hunter2",
}
_SECRET_NEG = [
    "password=********",
    "password: <redacted>",
    "api_key=${API_KEY}",
    "connecting to postgresql://db.internal:5432/billing",
    "the password field is required",
    "secret rotation finished in 12ms",
]


@pytest.mark.parametrize("rid", [r[0] for r in SECRET_RULES])
def test_secret_rule_positive(rid: str) -> None:
    """Each secret rule finds its kind of secret in a real-looking line, and masks it in the title."""
    line = _SECRET_POS[rid]
    found = leaked_secrets(Context(line + "\n", "runtime"))
    assert any(f.key.startswith(f"secret:{rid}:") for f in found), [f.key for f in found]
    for f in found:
        for secret in f.secrets:
            assert secret not in f.title


@pytest.mark.parametrize("line", _SECRET_NEG)
def test_secret_rules_negative(line: str) -> None:
    """Placeholders, masked values and host-only URLs are not reported as leaks."""
    assert leaked_secrets(Context(line + "\n", "runtime")) == []


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

"""Secret and PII redaction: every rule family, placeholders, allowlists, idempotence."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from logmarketd.ingest.redact import (
    PLACEHOLDER,
    Redactor,
    load_or_create_key,
    redact,
    redact_model,
    shannon_entropy,
)
from logmarketd.models import AIInsights, ErrorPattern, Evidence

KEY = b"installation-key-0123456789abcdef"

# (rule id expected in the placeholder, text, the secret that must disappear)
CASES: list[tuple[str, str, str]] = [
    ("aws-access-key", "assume role with AKIAQYLPMN5HHHFPZAM2 ok", "AKIAQYLPMN5HHHFPZAM2"),
    ("aws-access-key", "creds ASIAY34FZKBOKMUTVV7A expired", "ASIAY34FZKBOKMUTVV7A"),
    (
        "aws-secret-key",
        "aws_secret_access_key = Tg8x2LQm4zK0Yp1vXc9Rb7Nw3Hj6Fd5Sa2Ge4Uq8",
        "Tg8x2LQm4zK0Yp1vXc9Rb7Nw3Hj6Fd5Sa2Ge4Uq8",
    ),
    (
        "github-token",
        "git clone with ghp_R2d2C3poL1ke5kyWalk3rX9v8b7n6m5K4j3h",
        "ghp_R2d2C3poL1ke5kyWalk3rX9v8b7n6m5K4j3h",
    ),
    (
        "github-token",
        "oauth gho_16C7e42F292c6912E7710c838347Ae178B4a ok",
        "gho_16C7e42F292c6912E7710c838347Ae178B4a",
    ),
    (
        "github-fine-grained-token",
        "GH=github_pat_11AAAAAAA0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
        "github_pat_11AAAAAAA0abcdefghijkl_mnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ab",
    ),
    ("gitlab-token", "push failed glpat-Xq3v9L2m8N4b7K1c6J5h", "glpat-Xq3v9L2m8N4b7K1c6J5h"),
    (
        "slack-token",
        "bot xoxb-2314-98123-Zk3mQp9LxT2vB8nR4c7Y",
        "xoxb-2314-98123-Zk3mQp9LxT2vB8nR4c7Y",
    ),
    (
        "slack-webhook",
        "notify https://hooks.slack.com/services/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",
        "T0A1B2C3D/B4E5F6G7H/q9W8e7R6t5Y4u3I2o1P0aSdF",
    ),
    (
        "stripe-key",
        "charge with sk_live_51HfQ2kLm9Xz8Yw7Vu6Ts5Rq",
        "sk_live_51HfQ2kLm9Xz8Yw7Vu6Ts5Rq",
    ),
    ("stripe-key", "rk_test_4eC39HqLyjWDarjtT1zdp7dc", "rk_test_4eC39HqLyjWDarjtT1zdp7dc"),
    (
        "google-api-key",
        "maps AIzaSyD3x9Kq2Lm8Np4Rs7Tu1Vw5Xy0Za6Bc3De",
        "AIzaSyD3x9Kq2Lm8Np4Rs7Tu1Vw5Xy0Za6Bc3De",
    ),
    (
        "openai-key",
        "OPENAI_KEY sk-proj-Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef3Hi6Kl9No2Qr5",
        "sk-proj-Ab3De6Gh9Jk2Mn5Pq8St1Vw4Yz7Bc0Ef3Hi6Kl9No2Qr5",
    ),
    (
        "openai-key",
        "legacy sk-Zx8Cv7Bn6Mm5Ll4Kk3JjT3BlbkFJQw1Er2Ty3Ui4Op5As6Df7",
        "sk-Zx8Cv7Bn6Mm5Ll4Kk3JjT3BlbkFJQw1Er2Ty3Ui4Op5As6Df7",
    ),
    (
        "anthropic-key",
        "client sk-ant-api03-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7-AbCd_EfGh",
        "sk-ant-api03-Qw3Er5Ty7Ui9Op1As3Df5Gh7Jk9Lz1Xc3Vb5Nm7-AbCd_EfGh",
    ),
    (
        "jwt",
        "session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ),
    (
        "npm-token",
        "//registry.npmjs.org/:_authToken npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
        "npm_a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8",
    ),
    (
        "sendgrid-key",
        "mail via SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ012",
        "SG.aBcDeFgHiJkLmNoPqRsTuV.wXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ012",
    ),
    (
        "huggingface-token",
        "hub login hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
        "hf_AbCdEfGhIjKlMnOpQrStUvWxYzAbCdEfGh",
    ),
    (
        "shopify-token",
        "X-Shopify-Access-Token shpat_0123456789abcdef0123456789abcdef",
        "shpat_0123456789abcdef0123456789abcdef",
    ),
    (
        "azure-storage-key",
        "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey="
        + "Ab1+" * 21
        + "Zz==;EndpointSuffix=core.windows.net",
        "Ab1+" * 21 + "Zz==",
    ),
    ("url-password", "connect postgres://app:Pa55w0rd!@db.internal:5432/main", "Pa55w0rd!"),
    ("url-password", "amqp://guest:hunter22@rabbit/", "hunter22"),
    ("url-password", "redis://app:p@ss:w0rd@cache:6379/0", "p@ss:w0rd"),
    ("keyword-secret", "login user=bob password=hunter2 ok", "hunter2"),
    ("keyword-secret", "  db_pass: Zq8rT2mWx", "Zq8rT2mWx"),
    ("keyword-secret", "mysql --user=app --pass=Zq8rT2mWx", "Zq8rT2mWx"),
    ("keyword-secret", 'cfg {"db_password": "c0rrect horse"}', "c0rrect horse"),
    ("keyword-secret", "clientSecret: 'Zx9!kq2LmP'", "Zx9!kq2LmP"),
    ("keyword-secret", "X-Api-Key: 7Gd92hKq", "7Gd92hKq"),
    ("keyword-secret", "GET /cb?code=1&access_token=Qm9vYmFy42&x=1", "Qm9vYmFy42"),
    ("authorization-header", "Authorization: Bearer abc.def-ghi_123", "abc.def-ghi_123"),
    ("authorization-header", "authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
    ("bearer-token", "curl -H 'X: Bearer 9f8e7d6c5b4a39281706f5e4'", "9f8e7d6c5b4a39281706f5e4"),
    (
        "keyword-high-entropy",
        "using api key a8f5f167f44f4964e6c998dee827110c for tenant",
        "a8f5f167f44f4964e6c998dee827110c",
    ),
]


@pytest.mark.parametrize(
    ("rule", "text", "secret"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_each_rule_family_redacts_its_secret(rule: str, text: str, secret: str) -> None:
    """Each built-in family removes its secret and names itself in the placeholder."""
    out, hits = Redactor(KEY).redact_with_report(text)
    assert secret not in out
    assert any(h.rule == rule for h in hits), (out, hits)
    assert f"<REDACTED:{rule}:" in out


NEGATIVES = [
    "token_count=512 max_tokens: 100 author: Ann",
    "password reset e-mail sent to the user",
    "Basic information is missing from the form",
    "request id 3f2a9c1e-7b4d-4e8a-9f10-2c3d4e5f6a7b took 12ms",
    "commit 9fceb02d0ae598e95dc970b74767f19372d61af8 built",
    "2024-05-01T12:30:45.123Z INFO GET /healthz 200",
    "password=**** token=${TOKEN} secret=<redacted> api_key={{ secrets.KEY }}",
    "auth=true password=%s passwd=null",
    "-----BEGIN PUBLIC KEY----- is fine to print",
    "GET http://host:8080/search?q=a@b and https://user@example.com/x",
    "--- PASS: TestAddZero (0.001s)",
    "PASS: tests/parse.test",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_placeholders_and_ordinary_log_text_are_kept(text: str) -> None:
    """Masked values, templates, ids, hashes and prose pass through unchanged."""
    assert Redactor(KEY).redact(text) == text


def test_placeholder_is_stable_per_key_and_differs_across_keys() -> None:
    """The same secret maps to the same placeholder under one key and another under a new key."""
    text = "k=AKIAQYLPMN5HHHFPZAM2 again AKIAQYLPMN5HHHFPZAM2"
    one = Redactor(KEY).redact(text)
    tokens = PLACEHOLDER.findall(one)
    assert len(tokens) == 2 and tokens[0] == tokens[1]
    assert re.fullmatch(r"<REDACTED:aws-access-key:[0-9a-f]{6}>", tokens[0])
    assert Redactor(KEY).redact(text) == one
    assert Redactor(b"another-installation-key-000000").redact(text) != one


def test_multiline_pem_block_is_redacted_whole() -> None:
    """A private key spread over lines becomes one placeholder; later lines survive."""
    body = "\n".join(
        [
            "MIIEowIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM2Uw0JpXg2VK4Kq9Zs7",
            "Yx1Lp9Nf3Qw5Er7Ty9Ui1Op3As5Df7Gh9Jk1Lz3Xc5Vb7Nm9",
        ]
        * 10
    )
    text = f"loading\n-----BEGIN RSA PRIVATE KEY-----\n{body}\n-----END RSA PRIVATE KEY-----\nnext INFO ok"
    out, hits = Redactor(KEY).redact_with_report(text)
    assert "MIIEowIBAAKCAQEA" not in out and "Yx1Lp9" not in out
    assert out.startswith("loading\n<REDACTED:private-key:") and out.endswith("\nnext INFO ok")
    assert [(h.rule, h.line) for h in hits] == [("private-key", 2)]


def test_truncated_pem_block_redacts_body_lines_but_not_the_log_after() -> None:
    """A block cut before its END line loses its base64 lines, not the log lines after it."""
    text = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n2024-05-01 INFO next"
    out = Redactor(KEY).redact(text)
    assert "b3BlbnNzaC1rZXkt" not in out
    assert out.endswith("\n2024-05-01 INFO next")


def test_json_escaped_pem_is_redacted() -> None:
    """A PEM with literal backslash-n separators inside a JSON string is caught."""
    text = r'{"key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"}'
    out = Redactor(KEY).redact(text)
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" not in out


def test_pii_only_when_enabled() -> None:
    """E-mail and IP addresses stay unless the PII setting is on."""
    text = "login bob@example.com from 10.1.2.3 via 2001:db8::8a2e:370:7334 at 12:30:45"
    assert Redactor(KEY).redact(text) == text
    out = Redactor(KEY, pii=True).redact(text)
    assert "bob@example.com" not in out and "10.1.2.3" not in out and "2001:db8" not in out
    assert "12:30:45" in out
    assert {"email", "ipv4", "ipv6"} <= {
        h.rule for h in Redactor(KEY, pii=True).redact_with_report(text)[1]
    }


def test_with_pii_masks_pii_with_the_same_key_and_allowlist() -> None:
    """The redactor for stored examples: PII masked whatever the setting, with the same
    placeholders as the PII setting on would give, and the same allowlist."""
    text = "login bob@example.com from 10.1.2.3 password=hunter2-secret-pw"
    plain = Redactor(KEY, allowlist=[r"10\.1\.2\.3"])
    masked = plain.with_pii().redact(text)
    assert masked == Redactor(KEY, pii=True, allowlist=[r"10\.1\.2\.3"]).redact(text)
    assert "bob@example.com" not in masked and "<REDACTED:email:" in masked
    assert "10.1.2.3" in masked and "hunter2" not in masked
    assert "bob@example.com" in plain.redact(text)  # the redactor itself is unchanged
    assert plain.with_pii().pii and not plain.pii


def test_user_allowlist_keeps_a_known_test_value() -> None:
    """A configured allowlist pattern keeps a value that would otherwise be redacted."""
    text = "password=integration-test-pw"
    assert Redactor(KEY).redact(text) != text
    assert Redactor(KEY, allowlist=[r"integration-test-\w+"]).redact(text) == text


def test_report_lines_and_offsets_point_into_the_input() -> None:
    """Hits give 1-based lines and offsets of the original secret; no secret in the report."""
    text = "a\nb token=Zq8Xw7Vu6Ts5\nc\nd ghp_R2d2C3poL1ke5kyWalk3rX9v8b7n6m5K4j3h"
    out, hits = Redactor(KEY).redact_with_report(text)
    assert [h.line for h in hits] == [2, 4]
    assert text[hits[0].start : hits[0].end] == "Zq8Xw7Vu6Ts5"
    assert all("Zq8Xw7" not in repr(h) for h in hits)
    assert out.count("\n") == 3


def test_evidence_in_findings_is_redacted() -> None:
    """redact_model redacts every string of a finding, the evidence lines included."""
    finding = ErrorPattern(
        pattern="auth failed for token=Zq8Xw7Vu6Ts5",
        location="api.py:10",
        severity="high",
        impact="login broken",
        evidence=[Evidence(line=3, text="Authorization: Bearer s3cr3t-t0ken-value")],
    )
    clean = redact_model(finding)
    dumped = clean.model_dump_json()
    assert "Zq8Xw7Vu6Ts5" not in dumped and "s3cr3t-t0ken-value" not in dumped
    assert clean.evidence[0].line == 3 and clean.severity == "high"


def test_whole_insights_are_redacted_and_stay_valid() -> None:
    """redact_model on AIInsights keeps the structure and aliases and removes every secret."""
    insights = AIInsights(
        error_patterns=[
            ErrorPattern(
                pattern="p",
                location="l",
                severity="low",
                impact="i",
                root_cause="leaked ghp_R2d2C3poL1ke5kyWalk3rX9v8b7n6m5K4j3h",
                evidence=[Evidence(line=1, text="password=hunter2")],
            )
        ]
    )
    clean = Redactor(KEY).redact_model(insights)
    text = clean.model_dump_json(by_alias=True)
    assert "ghp_R2d2" not in text and "hunter2" not in text and "errorPatterns" in text


def test_module_level_redact_uses_a_default_redactor() -> None:
    """redact() works without configuration and is stable within the process."""
    a = redact("password=hunter2")
    assert "hunter2" not in a and a == redact("password=hunter2")


def test_short_key_is_refused() -> None:
    """A key shorter than 16 bytes is a configuration error, not a weak hash."""
    with pytest.raises(ValueError, match="16 bytes"):
        Redactor(b"short")


def test_entropy() -> None:
    """Shannon entropy is 0 for one repeated symbol and log2(n) for n distinct symbols."""
    assert shannon_entropy("") == 0.0
    assert shannon_entropy("aaaa") == 0.0
    assert shannon_entropy("abcd") == pytest.approx(2.0)


_filler = st.text(alphabet=st.characters(codec="utf-8"), max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_filler, st.sampled_from([c[1] for c in CASES])), max_size=6))
def test_redaction_is_idempotent_and_never_leaks_a_known_secret(parts: list[str]) -> None:
    """Redacting twice changes nothing more, and no listed secret survives in its own context."""
    r = Redactor(KEY, pii=True)
    text = " ".join(parts)
    once = r.redact(text)
    assert r.redact(once) == once
    for rule, context, secret in CASES:
        if context in text:
            assert secret not in once, (rule, once)


def test_text_whose_lowercase_changes_length_still_maps_offsets() -> None:
    """A character whose lowercase is longer ("İ") does not shift the redacted span."""
    text = "İİİ user password=hunter2 Authorization: Bearer abcdef0123456789abcdef"
    out = Redactor(KEY).redact(text)
    assert out.startswith("İİİ user password=<REDACTED:keyword-secret:")
    assert "hunter2" not in out and "abcdef0123456789abcdef" not in out


def test_ordinary_outcomes_after_auth_keys_are_kept() -> None:
    """Status words after auth/token keys (auth=failed, auth: success) are not secrets."""
    text = "auth=failed reason=expired auth: success token: invalid"
    assert Redactor(KEY).redact(text) == text


def test_installation_key_is_created_once_private_and_reused(tmp_path: Path) -> None:
    """The key file is created with mode 0600 and read back unchanged on the next start."""
    path = tmp_path / "redaction.key"
    first = load_or_create_key(path)
    assert len(first) == 32 and os.stat(path).st_mode & 0o777 == 0o600
    assert load_or_create_key(path) == first
    for damaged in (b"not hex", bytes(range(256))):
        path.write_bytes(damaged)
        with pytest.raises(ValueError, match="not a hex"):
            load_or_create_key(path)
        assert path.read_bytes() == damaged


PATHOLOGICAL = {
    "jwt-prefixes": "eyJ" * 200_000,
    "jwt-dashed": "-eyJ" * 150_000,
    "openai-prefixes": "sk-" * 200_000,
    "anthropic-prefixes": "sk-ant-api03-" * 50_000,
    "pem-headers": "-----BEGIN PRIVATE KEY-----\n" * 20_000,
    "auth-headers": "authorization:" * 14_000,
    "slack-prefixes": "xoxb-" * 40_000,
    "keywords": "token " * 30_000,
    "url-userinfo": "://a:" * 40_000,
    "long-word-after-keyword": "token " + "a" * 200_000,
    "placeholders-and-secrets": "password=<REDACTED:keyword-secret:abcdef> password=hunter2 "
    * 8_000,
}


@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_input_is_redacted_in_linear_time(name: str) -> None:
    """Log content is untrusted: inputs built to make regexes rescan (ReDoS) finish promptly.

    With the earlier quadratic versions of these rules such cases ran for minutes, so a
    regression shows up as this test's timeout rather than as a timing assertion.
    """
    text = PATHOLOGICAL[name]
    out = Redactor(KEY, pii=True).redact(text)
    assert isinstance(out, str) and len(out) > 0

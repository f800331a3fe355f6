"""Answer validation, the severity range, and the prompt's fencing and redaction."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from logmarketd.analysis.llm import (
    AnswerError,
    FindingGroup,
    allowed_severities,
    build_prompt,
    clamp_severity,
)
from logmarketd.analysis.llm.validate import parse_answer
from logmarketd.ingest.redact import Redactor
from logmarketd.models import ErrorPattern, Evidence, ImprovementOpportunity

REDACTOR = Redactor(b"schema-test-key-0123456789abcdef")


def group(
    severity: str | None = "medium", lo: str | None = None, hi: str | None = None
) -> FindingGroup:
    return FindingGroup.model_validate(
        {
            "fingerprint": "tpl",
            "kind": "error",
            "findings": [ErrorPattern(pattern="p", location="l", severity="medium", impact="i")],
            "evidence": [Evidence(line=3, text="a"), Evidence(line=9, text="b")],
            "severity": severity,
            "severity_min": lo,
            "severity_max": hi,
        }
    )


@pytest.mark.parametrize(
    ("severity", "lo", "hi", "allowed"),
    [
        ("medium", None, None, ("low", "medium")),  # no max: can only be lowered
        ("medium", None, "critical", ("low", "medium", "high")),  # one step, not two
        ("medium", "medium", "high", ("medium", "high")),
        ("low", None, "high", ("low", "medium")),
        ("critical", None, "critical", ("high", "critical")),
        (None, None, "critical", ()),
    ],
)
def test_allowed_severities_are_one_step_within_the_rules_range(
    severity: str | None, lo: str | None, hi: str | None, allowed: tuple[str, ...]
) -> None:
    """A model may move severity one step, never past the rules' min/max."""
    assert allowed_severities(group(severity, lo, hi)) == allowed


def test_clamp_pulls_a_proposal_into_range() -> None:
    """'critical' proposed for a medium finding with max critical becomes high; None keeps."""
    g = group("medium", None, "critical")
    assert clamp_severity(g, "critical") == "high"
    assert clamp_severity(g, "low") == "low"
    assert clamp_severity(g, None) == "medium"
    assert clamp_severity(group("medium"), "critical") == "medium"


_SEV = st.sampled_from(["low", "medium", "high", "critical"])


@given(_SEV, st.one_of(st.none(), _SEV), st.one_of(st.none(), _SEV), st.one_of(st.none(), _SEV))
def test_clamped_severity_is_within_one_step_and_the_rules_maximum(
    severity: str, hi: str | None, lo: str | None, proposed: str | None
) -> None:
    """Whatever a model proposes, the result is at most one step away and never above the max."""
    rank = {"low": 0, "medium": 1, "high": 2, "critical": 3}
    if lo is not None and hi is not None and rank[lo] > rank[hi]:
        lo, hi = hi, lo
    g = group(severity, lo, hi)
    out = clamp_severity(g, proposed)  # type: ignore[arg-type]
    assert out is not None and abs(rank[out] - rank[severity]) <= 1
    assert rank[out] <= max(rank[severity], rank[hi] if hi else rank[severity])


def test_group_validation() -> None:
    """Inverted ranges, duplicate evidence lines and empty groups are refused."""
    with pytest.raises(ValueError, match="above"):
        group("medium", "high", "low")
    with pytest.raises(ValueError):
        FindingGroup.model_validate(
            {
                "fingerprint": "t",
                "kind": "error",
                "findings": [ErrorPattern(pattern="p", location="l", severity="low", impact="i")],
                "evidence": [Evidence(line=1, text="a"), Evidence(line=1, text="b")],
            }
        )
    with pytest.raises(ValueError):
        FindingGroup.model_validate(
            {"fingerprint": "t", "kind": "error", "findings": [], "evidence": []}
        )


GOOD = {"root_cause": "rc", "suggested_fix": "fix", "severity": None, "evidence_lines": [9]}


def test_parse_accepts_a_good_answer_in_text_object_or_markdown_fence() -> None:
    """A valid answer parses whether it comes as JSON text, an object, or fenced JSON."""
    prompt = build_prompt(group(), REDACTOR)
    for reply in (json.dumps(GOOD), GOOD, f"```json\n{json.dumps(GOOD)}\n```"):
        assert parse_answer(reply, prompt, REDACTOR).evidence_lines == [9]


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("{", "not JSON"),
        ("[1, 2]", "not an object"),
        ({**GOOD, "price": 1000}, "Extra inputs"),
        ({**GOOD, "evidence_lines": [4]}, r"not given: \[4\]"),
        ({**GOOD, "evidence_lines": []}, "evidence_lines"),
        ({**GOOD, "severity": "catastrophic"}, "severity"),
        ({**GOOD, "root_cause": ""}, "root_cause"),
        ("x" * 30_000, "too long"),
    ],
)
def test_parse_rejects_bad_answers_with_a_reason(reply: object, message: str) -> None:
    """Each kind of bad answer gives an AnswerError that says what was wrong."""
    prompt = build_prompt(group(), REDACTOR)
    with pytest.raises(AnswerError, match=message):
        parse_answer(reply, prompt, REDACTOR)  # type: ignore[arg-type]


def test_parse_redacts_echoed_secrets() -> None:
    """A model echoing a secret-looking string back gets it redacted in the stored text."""
    prompt = build_prompt(group(), REDACTOR)
    answer = parse_answer({**GOOD, "root_cause": "bad key AKIAQYLPMN5HHHFPZAM2"}, prompt, REDACTOR)
    assert "AKIAQYLPMN5HHHFPZAM2" not in answer.root_cause


def test_prompt_fences_redacts_and_caps_the_evidence() -> None:
    """Evidence is redacted, fenced with a fresh nonce per prompt, and capped in count."""
    g = FindingGroup.model_validate(
        {
            "fingerprint": "tpl",
            "kind": "improvement",
            "findings": [
                ImprovementOpportunity(area="logs", suggestion="s", effort="low", impact="low")
            ],
            "evidence": [
                Evidence(line=i, text=f"line {i} password=hunter{i}x\x1b[31m") for i in range(1, 40)
            ],
        }
    )
    one, two = build_prompt(g, REDACTOR, max_lines=5), build_prompt(g, REDACTOR, max_lines=5)
    assert one.lines == (1, 2, 3, 4, 5)
    assert "hunter1x" not in one.user and "\x1b" not in one.user
    assert "null only" in one.system  # no severity to move for this kind
    nonce = one.user.split("<<<UNTRUSTED ")[1][:16]
    assert nonce not in two.user
    assert one.estimate_tokens() > 100

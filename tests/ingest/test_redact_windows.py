"""On a large text the redactor searches only around each rule's keywords; that finds exactly
what searching the whole text finds, on every corpus log and on a large mixed log."""

from __future__ import annotations

import pytest
from logmarketd.analysis.agents.base import Context
from logmarketd.ingest import redact
from logmarketd.ingest.redact import Redactor

from tests.bench.agents import _samples, mixed_log

TEXTS = [t for _, t in _samples()] + [mixed_log(20_000)]
KEY = b"windows-test-key-0123456789"


@pytest.mark.parametrize("pii", [False, True])
def test_windowed_search_finds_what_the_whole_text_search_finds(pii: bool, monkeypatch) -> None:
    red = Redactor(KEY, pii=pii)
    contexts = [Context(t, "runtime") for t in TEXTS]
    whole = [red._find(c.text) for c in contexts]
    monkeypatch.setattr(redact, "WINDOWED_CHARS", 0)
    assert [red._find(c.text, c.windows) for c in contexts] == whole
    assert sum(map(len, whole)) > 10  # the texts do hold secrets


def test_a_secret_wrapped_onto_the_next_line_is_still_found(monkeypatch) -> None:
    red = Redactor(KEY)
    text = "x\n" * 40_000 + "Authorization:\n  Bearer abcdefghijklmnop0123456789\n" + "y\n" * 10
    monkeypatch.setattr(redact, "WINDOWED_CHARS", 0)
    ctx = Context(text, "runtime")
    assert [h.rule for h in red.find(ctx.text, ctx.windows)] == ["authorization-header"]


def test_redaction_for_storage_searches_the_whole_text() -> None:
    """What is stored is redacted by searching the whole text, however large: a secret two
    lines below its keyword is still found (only the Security Guardian's report of a large
    log narrows its search to the lines around each keyword)."""
    red = Redactor(KEY)
    for tail, secret in (("password:\n\n\n  Hunt3r2secretValue\n", "Hunt3r2secretValue"),
                         ("Authorization:\n\n\n  Zm9vOmJhcjEyMzQ1Njc4\n", "Zm9vOmJhcjEyMzQ1Njc4")):  # fmt: skip
        assert secret not in red.redact("x\n" * 40_000 + tail)

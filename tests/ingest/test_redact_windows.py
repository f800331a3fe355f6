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
    monkeypatch.setattr(redact, "WINDOWED_CHARS", 10**12)
    whole = [red._find(t) for t in TEXTS]
    monkeypatch.setattr(redact, "WINDOWED_CHARS", 0)
    assert [red._find(t) for t in TEXTS] == whole
    contexts = [Context(t, "runtime") for t in TEXTS]
    assert [red._find(c.text, c.windows) for c in contexts] == [red._find(c.text) for c in contexts]
    assert sum(map(len, whole)) > 10  # the texts do hold secrets


def test_a_secret_wrapped_onto_the_next_line_is_still_found(monkeypatch) -> None:
    red = Redactor(KEY)
    text = "x\n" * 40_000 + "Authorization:\n  Bearer abcdefghijklmnop0123456789\n" + "y\n" * 10
    monkeypatch.setattr(redact, "WINDOWED_CHARS", 0)
    assert [h.rule for h in red.find(text)] == ["authorization-header"]

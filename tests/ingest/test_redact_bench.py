"""The redaction benchmark runs, and its labelled corpus keeps the rules honest."""

from __future__ import annotations

import pytest
from logmarketd.ingest.redact import Redactor

from tests.bench import redact as bench
from tests.bench.redact_corpus import make_corpus


def test_benchmark_runs_and_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    """A small run prints our rows, the peer (or the naive baseline) and the per-family table."""
    assert bench.main(["--lines", "1500", "--peer-lines", "300", "--repeat", "1"]) == 0
    out = capsys.readouterr().out
    for row in ("per line", "1000-line windows", "naive", "recall by family", "hostile"):
        assert row in out


def test_labelled_corpus_recall_and_precision_floor() -> None:
    """On the labelled corpus every machine-findable family is caught; misses are the prose cases.

    A rule change that loses a family or floods ordinary lines fails here.
    """
    corpus = make_corpus(4000, seed=11)
    result = bench.run_ours_windows(corpus, repeat=1)
    findable = [
        s for s in corpus.secrets if s.family not in ("password-in-prose", "password-field")
    ]
    r = Redactor(bench.KEY)
    text = r.redact("\n".join(corpus.lines))
    assert all(s.value not in text for s in findable)
    assert result.caught / len(corpus.secrets) > 0.9
    assert result.hit_tp / (result.hit_tp + result.hit_fp) > 0.8

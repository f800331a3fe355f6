"""The rule engine meets its targets on the corpus of real logs (tests/corpus)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from types import ModuleType

import pytest

from tests.conftest import REPO

ROOT = REPO / "tests" / "corpus"


def _scorer() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "corpus_score", REPO / "tests" / "bench" / "corpus_score.py"
    )
    assert spec is not None and spec.loader is not None
    if "corpus_score" in sys.modules:
        return sys.modules["corpus_score"]
    mod = importlib.util.module_from_spec(spec)
    sys.modules["corpus_score"] = mod  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def totals() -> object:
    """The logs the rules were written against."""
    return _scorer().score_corpus(ROOT, split="base")


def _overall(t: object) -> tuple[float, float]:
    found, expected = sum(t.found.values()), sum(t.expected.values())  # type: ignore[attr-defined]
    right, total = sum(t.true_pos.values()), sum(t.findings.values())  # type: ignore[attr-defined]
    return found / expected, right / max(total, 1)


def test_every_log_has_labels_and_a_recipe() -> None:
    """Each log has a labels file, and make_corpus.sh has the function that produced it."""
    script = (ROOT / "make_corpus.sh").read_text()
    logs = sorted(p.stem for p in (ROOT / "logs").glob("*.log"))
    assert logs == sorted(p.stem for p in (ROOT / "labels").glob("*.json"))
    for name in logs:
        assert re.search(rf"^s_{name}\(\) \{{", script, re.M), name
        labels = json.loads((ROOT / "labels" / f"{name}.json").read_text())
        assert labels["source"] in ("build", "test", "deploy", "runtime")
    assert sum(p.stat().st_size for p in ROOT.rglob("*") if p.is_file()) < 5_000_000


def test_precision_and_recall_per_agent(totals: object) -> None:
    """On the logs the rules were written against, recall is at least 0.98 and precision at
    least 0.9 for each agent."""
    for agent in (
        "error-detective",
        "performance-analyzer",
        "security-guardian",
        "quality-inspector",
    ):
        assert totals.recall(agent) >= 0.98, (agent, totals.misses)  # type: ignore[attr-defined]
        assert totals.precision(agent) >= 0.9, (agent, totals.extras)  # type: ignore[attr-defined]


def test_the_newer_logs_keep_what_they_measured() -> None:
    """The newer logs (labelled before any rule was written for them) keep the figures they
    measured; these are floors against regressions, not the targets (recall 0.9, precision
    0.9), which they do not meet yet: the held-out half is never tuned against."""
    recall, precision = _overall(_scorer().score_corpus(ROOT, split="new-tune"))
    assert recall >= 0.95 and precision >= 0.95, (recall, precision)
    recall, precision = _overall(_scorer().score_corpus(ROOT, split="new-held"))
    assert recall >= 0.62 and precision >= 0.75, (recall, precision)
    for batch in ("new2", "new3"):  # tuned on after their first contact (0.483/0.702, 0.360/0.632)
        recall, precision = _overall(_scorer().score_corpus(ROOT, split=batch))
        assert recall >= 0.9 and precision >= 0.95, (batch, recall, precision)


def test_error_locations(totals: object) -> None:
    """The location of at least 90% of the expected error findings is right."""
    assert totals.loc_total >= 20  # type: ignore[attr-defined]
    assert totals.location_accuracy >= 0.9, totals.misses  # type: ignore[attr-defined]


def test_noise_only_logs_have_no_findings() -> None:
    """Healthy heartbeat, passing tests and clean builds produce no finding at all, in every
    split."""
    every = _scorer().score_corpus(ROOT)
    assert every.noise_logs >= 20 and every.noise_findings == 0


def test_bgl_alert_recall_when_dataset_present() -> None:
    """On Loghub BGL_2k, error findings cover at least 90% of the alert lines (dataset on this host)."""
    result = _scorer().bgl_recall()
    if result is not None:
        assert result[0] >= 0.9

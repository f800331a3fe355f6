"""The one failure in a long passing CI log: 13,961 lines of real output (compileall and
13,800 verbose pytest cases) whose one failing test was hidden by '|| true' while the job
reported success. Through the real daemon, the failing test is found at its place, and the
log is priced above a clean test log."""

from __future__ import annotations

import json
from pathlib import Path

from tests.bench.corpus_score import _matches, findings_of
from tests.conftest import DaemonProcess
from tests.integration.test_genuine_credit import analyze

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _log(name: str) -> str:
    return (CORPUS / "logs" / f"{name}.log").read_text("utf-8")


def test_the_buried_failure_is_found_and_priced_above_a_clean_log(short_tmp: Path) -> None:
    text = _log("ci_long_buried_failure")
    assert text.count("\n") > 13_000 and " PASSED" in text
    (want,) = json.loads((CORPUS / "labels" / "ci_long_buried_failure.json").read_text())["expect"]
    d = DaemonProcess(short_tmp, marketplace=True).start()
    try:
        buried = analyze(d, text, "test", "ci-runner-1")
        clean = analyze(d, _log("noise_pytest_pass"), "test", "ci-runner-2")
    finally:
        d.stop()
    found = [f for f in findings_of(buried) if _matches(want, f)]
    assert found, findings_of(buried)
    assert want["location"] in str(found[0]["location"])
    assert clean["paymentAmount"] == 0 and not findings_of(clean)
    assert buried["paymentAmount"] > clean["paymentAmount"]
    assert buried["valueScore"] > clean["valueScore"]

"""Genuine findings still earn: with the defaults (novelty, caps, the hold), each shipped
sample with a finding and each real tool log in ``tests/corpus`` that holds a failure is
credited more than $0 the first time it is sent (pending until the hold is over, or held
for the admin below the auto-pay threshold), and nothing the second time. The real daemon,
HTTP, one key per contributor."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"
CORPUS = Path(__file__).parent.parent / "corpus"


def analyze(d: DaemonProcess, content: str, source: str, sub: str) -> dict[str, Any]:
    status, a = http("POST", d.url + API + "/analyze",
                     {"source": source, "logContent": content, "subPKPId": sub},
                     token=d.admin_token)  # fmt: skip
    assert status == 200, a
    return a  # type: ignore[no-any-return]


def credited(d: DaemonProcess, sub: str) -> float:
    status, acct = http("GET", f"{d.url}{API}/sub-pkp/{sub}", token=d.admin_token)
    assert status == 200, acct
    return float(acct["balance"]) + float(acct["pending"])


def failing_corpus_logs() -> list[tuple[str, str, str]]:
    """(name, source, text) of the base corpus logs labelled with an error finding."""
    out = []
    for label in sorted((CORPUS / "labels").glob("*.json")):
        spec = json.loads(label.read_text())
        # the logs the rules were written against (the newer splits measure what they miss)
        if "split" not in spec and any(e["agent"] == "error-detective" for e in spec["expect"]):
            text = (CORPUS / "logs" / f"{label.stem}.log").read_text(errors="replace")
            out.append((label.stem, spec["source"], text))
    return out


def test_shipped_samples_and_real_failures_are_credited_once(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp, "--requests-per-minute", "100000",
                      "--max-logs-per-hour", "100000", marketplace=True).start()  # fmt: skip
    try:
        logs = [(n, s, c) for n, s, c in SAMPLES if "heartbeat" not in n]
        logs += failing_corpus_logs()
        assert len(logs) > 30
        uncredited = []
        for i, (name, source, content) in enumerate(logs):
            sub = f"genuine-{i}"
            first = analyze(d, content, source, sub)
            if first["paymentAmount"] <= 0 or credited(d, sub) <= 0:
                uncredited.append((name, first["valueScore"], first["pricing"]))
            assert analyze(d, content, source, sub)["paymentAmount"] == 0, name  # a copy
        assert not uncredited, uncredited
    finally:
        d.stop()

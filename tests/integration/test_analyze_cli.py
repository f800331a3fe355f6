"""``logmarket analyze`` as a real subprocess: one JSON object per log, explanations, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from logmarketd.models import LogAnalysis

from tests.conftest import REPO

CORPUS = REPO / "tests" / "corpus" / "logs"


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "analyze", *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        check=False,
    )


def test_file_json_is_exactly_one_log_analysis() -> None:
    """--json prints one camelCase LogAnalysis object and nothing else on stdout."""
    p = _run(
        str(CORPUS / "py_traceback.log"), "--source", "runtime", "--sub-pkp", "pkp-7", "--json"
    )
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    analysis = LogAnalysis.model_validate(obj)
    assert obj["subPKPId"] == "pkp-7" and obj["paymentAmount"] == 0 and obj["paid"] is False
    assert analysis.ai_insights.error_patterns[0].location.endswith(
        "invoices.py:5 in load_customer"
    )
    assert "valueScore" in obj and "improvementPotential" in obj


def test_stdin_and_explain_keep_stdout_pure_json() -> None:
    """Standard input is one log; with --explain the reasons go to stderr."""
    data = (CORPUS / "sshd_bruteforce.log").read_bytes()
    p = _run("-", "--source", "runtime", "--json", "--explain", stdin=data)
    assert p.returncode == 0
    obj = json.loads(p.stdout)
    assert obj["aiInsights"]["securityConcerns"]
    assert b"why: relevance" in p.stderr


def test_directory_gives_one_object_per_line(tmp_path: Path) -> None:
    """A directory analyses each file: one JSON object per line."""
    for name in ("gcc_error", "noise_heartbeat", "javac_error"):
        (tmp_path / f"{name}.log").write_bytes((CORPUS / f"{name}.log").read_bytes())
    p = _run(str(tmp_path), "--source", "build", "--json")
    lines = p.stdout.decode().splitlines()
    assert len(lines) == 3
    assert [len(json.loads(line)["aiInsights"]["errorPatterns"]) > 0 for line in lines] == [
        True,
        True,
        False,
    ]


def test_human_output_lists_findings_and_explains() -> None:
    """Without --json the findings are listed with their location, then the reasons."""
    p = _run(str(CORPUS / "go_test_fail.log"), "--source", "test", "--explain")
    out = p.stdout.decode()
    assert "TestClampHigh" in out and "mathx_test.go:13" in out and "why: actionability" in out


def test_missing_file_and_bad_source_fail_clearly() -> None:
    """A missing file is a usage error (exit 2, one line); so is an unknown source."""
    p = _run("/nonexistent/x.log", "--source", "runtime")
    assert p.returncode == 2 and p.stderr.strip().splitlines() == [
        b"logmarket analyze: cannot read /nonexistent/x.log: no such file or directory"
    ]
    q = _run(str(CORPUS / "py_traceback.log"), "--source", "prod")
    assert q.returncode == 2 and b"invalid choice" in q.stderr


def test_secrets_never_reach_the_output() -> None:
    """Leaked secrets are reported with their values masked everywhere in the JSON (evidence included)."""
    p = _run(str(CORPUS / "secrets_leak.log"), "--source", "runtime", "--json")
    out = p.stdout.decode()
    assert json.loads(out)["aiInsights"]["securityConcerns"]
    for secret in (
        "S3cr3tPassw0rd",
        "AKIAIOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "dGhpc2lzbm90YXJlYWxzaWduYXR1cmU",
    ):
        assert secret not in out

"""The ``logmarket`` CLI as a user meets it: a real subprocess against a real daemon, or with no
daemon at all. Errors are one line that says what to do (no traceback); exit status 1 when the
work failed, 2 when the command line needs fixing; ``--json`` gives the API's JSON."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, DaemonProcess, free_port

CORPUS = REPO / "tests" / "corpus" / "logs"
SAMPLE = REPO / "daemon" / "logmarketd" / "samples" / "build-gcc-error.log"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LOGMARKET_")}
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    """The command failed with ``code`` and said why in exactly one line on stderr."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    """One marketplace daemon for the module (the commands only read or add analyses)."""
    root = Path(tempfile.mkdtemp(prefix="lm", dir="/tmp"))  # short: a Unix socket lives here
    d = DaemonProcess(root, marketplace=True)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


def api(d: DaemonProcess) -> list[str]:
    return ["--url", d.url, "--token", d.admin_token]


HTTP_COMMANDS = [
    ["stats"],
    ["pay", "la_0"],
    ["simulate", "--iterations", "1"],
    ["submit", str(SAMPLE), "--source", "build"],
    ["payouts", "list"],
    ["payouts", "pay", "tx_0"],
    ["findings", "judge", "f", "--valid"],
]


@pytest.mark.parametrize("command", HTTP_COMMANDS, ids=lambda c: c[0])
def test_daemon_down_names_the_url_and_how_to_start_it(command: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(cli(*command, "--url", url, "--token", "t"), 1)
    assert line.startswith(f"logmarket {command[0]}: ")
    assert url in line and "make run" in line and "logmarketd" in line


def test_daemon_down_from_the_environment_says_it_came_from_there() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    line = one_line_error(cli("stats", env={"LOGMARKET_URL": url, "LOGMARKET_TOKEN": "t"}), 1)
    assert url in line and "LOGMARKET_URL" in line


def test_send_with_the_daemon_down_names_the_socket(short_tmp: Path) -> None:
    sock = short_tmp / "none.sock"
    line = one_line_error(cli("send", str(SAMPLE), "--socket", str(sock), "--timeout", "0.5"), 1)
    assert str(sock) in line and "make run" in line and "logmarketd" in line


@pytest.mark.parametrize(
    "command",
    [
        ["submit", "{missing}", "--source", "build", "--token", "t"],
        ["send", "{missing}", "--socket", "/tmp/none.sock"],
        ["analyze", "{missing}", "--source", "build"],
        ["templates", "{missing}"],
    ],
    ids=lambda c: c[0],
)
def test_a_missing_file_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    missing = str(tmp_path / "nope.log")
    line = one_line_error(cli(*[missing if a == "{missing}" else a for a in command]), 2)
    assert missing in line and "no such file" in line.lower()


def test_a_wrong_token_says_which_token_was_used(market: DaemonProcess) -> None:
    line = one_line_error(cli("stats", "--url", market.url, "--token", "lmk_nope_nope"), 1)
    assert "401" in line and "--token" in line and "admin.token" in line
    line = one_line_error(cli("stats", env={"LOGMARKET_URL": market.url,
                                             "LOGMARKET_TOKEN": "wrong"}), 1)  # fmt: skip
    assert "401" in line and "LOGMARKET_TOKEN" in line
    stale = market.root / "stale"
    stale.mkdir(exist_ok=True)
    (stale / "admin.token").write_text("an-old-token\n")
    line = one_line_error(cli("stats", "--url", market.url, "--state-dir", str(stale)), 1)
    assert "401" in line and str(stale / "admin.token") in line


def test_no_token_at_all_is_a_usage_error(tmp_path: Path) -> None:
    line = one_line_error(cli("stats", "--state-dir", str(tmp_path / "none")), 2)
    assert str(tmp_path / "none" / "admin.token") in line and "--token" in line


def test_keys_create_where_no_store_can_be_made_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    state = tmp_path / "file" / "state"
    line = one_line_error(cli("keys", "create", "bob", "--state-dir", str(state)), 1)
    assert str(state / "logmarket.db") in line and "--state-dir" in line
    assert one_line_error(cli("keys", "create", "b" * 300, "--state-dir", str(tmp_path)), 2)


def test_bad_arguments_are_usage_errors() -> None:
    assert cli("stats", "--bogus").returncode == 2
    assert cli("pay").returncode == 2
    assert cli("simulate", "--iterations", "many").returncode == 2


def test_send_refused_by_the_daemon_says_why(market: DaemonProcess) -> None:
    """A hello the daemon refuses (a Sub-PKP id over 256 characters) is one line with its
    reason, not a retry loop or a traceback."""
    sock = str(market.socket)
    line = one_line_error(cli("send", str(SAMPLE), "--socket", sock, "--sub-pkp", "s" * 300), 1)
    assert "refused the hello" in line and "invalid-frame" in line and sock in line


def test_a_refused_request_is_one_line_with_the_daemons_reason(market: DaemonProcess) -> None:
    line = one_line_error(cli("pay", "la_does_not_exist", *api(market)), 1)
    assert "404" in line and "la_does_not_exist" in line


def test_stats_pay_and_simulate_print_json_with_json(market: DaemonProcess) -> None:
    stats = cli("stats", "--json", *api(market))
    assert stats.returncode == 0, stats.stderr
    assert {"totals", "topSellers", "agents"} <= json.loads(stats.stdout).keys()
    human = cli("stats", *api(market))
    assert human.returncode == 0 and human.stdout.startswith("analyses ")

    sim = cli("simulate", "--iterations", "2", "--sub-pkp", "carol", "--json", *api(market))
    assert sim.returncode == 0, sim.stderr
    body = json.loads(sim.stdout)
    assert body["simulated"] is True and len(body["analyses"]) == 2
    human = cli("simulate", "--iterations", "1", "--sub-pkp", "carol", *api(market))
    assert human.returncode == 0 and "never paid" in human.stdout
    with pytest.raises(ValueError):
        json.loads(human.stdout)

    sub = cli("submit", str(SAMPLE), "--source", "build", "--sub-pkp", "carol", "--json",
              *api(market))  # fmt: skip
    analysis = json.loads(sub.stdout)
    paid = cli("pay", analysis["id"], "--json", *api(market))
    assert paid.returncode == 0, paid.stderr
    tx = json.loads(paid.stdout)
    assert tx["analysisId"] == analysis["id"] and tx["subPKPId"] == "carol"
    again = cli("pay", analysis["id"], *api(market))
    assert again.returncode == 0, again.stderr
    assert tx["id"] in again.stdout and analysis["id"] in again.stdout
    with pytest.raises(ValueError):
        json.loads(again.stdout)


def test_submit_prints_every_finding(market: DaemonProcess, tmp_path: Path) -> None:
    """All of them, of all four kinds (it used to stop at five and skip quality)."""
    log = tmp_path / "mixed.log"
    log.write_text(
        (CORPUS / "nginx_attacks.log").read_text() + (CORPUS / "ruff_lint.log").read_text()
    )
    as_json = cli("submit", str(log), "--source", "build", "--sub-pkp", "dave", "--json",
                  *api(market))  # fmt: skip
    ins = json.loads(as_json.stdout)["aiInsights"]
    assert len(ins["securityConcerns"]) > 5 and ins["improvementOpportunities"]
    human = cli("submit", str(log), "--source", "build", "--sub-pkp", "dave", *api(market))
    assert human.returncode == 0, human.stderr
    total = sum(len(v) for v in ins.values())
    assert f": {total} findings" in human.stdout.splitlines()[0]
    findings = [line for line in human.stdout.splitlines()[1:] if line.startswith("  [")]
    assert len(findings) == total, human.stdout
    for s in ins["securityConcerns"]:
        assert any(s["threat"] in line for line in findings), s["threat"]
    for q in ins["improvementOpportunities"]:
        assert any(q["area"] in line for line in findings), q["area"]


def test_submit_without_a_sub_pkp_says_nobody_is_credited(market: DaemonProcess) -> None:
    """A log worth money submitted for no one: the summary says so, and how to credit it."""
    log = REPO / "daemon" / "logmarketd" / "samples" / "runtime-traceback.log"
    text = log.read_text().replace("1842", "7731")  # not seen before: worth money
    human = subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "submit", "-", "--source", "runtime",
         *api(market)], input=text, env={k: v for k, v in os.environ.items()
                                          if not k.startswith("LOGMARKET_")},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert human.returncode == 0, human.stderr
    summary, credit = human.stdout.splitlines()[:2]
    assert "$0.00" not in summary, summary
    assert credit.startswith("  nobody is credited") and "--sub-pkp" in credit, human.stdout
    named = cli("submit", str(SAMPLE), "--source", "build", "--sub-pkp", "erin", *api(market))
    assert "nobody is credited" not in named.stdout, named.stdout

"""A user rule dropped into ``--rules-dir`` changes findings without a restart; a broken pack
is refused (at start: the daemon exits naming it; while running: logged, the rules in force
stay); ``logmarketd rules test`` checks packs. A real daemon, real HTTP, the real CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, http, wait_for

API = "/npe/log-marketplace"
LOG = "2024-05-01 10:00:00 WARN flux capacitor overheated on node-7\n"
FLUX = """
[[rule]]
id = "acme-flux-overheat"
agent = "error-detective"
severity = "high"
title = "flux capacitor overheated on {node}"
fix = "Cool {node} down before the next jump."
keywords = ["flux capacitor"]
examples = ["WARN flux capacitor overheated on node-1"]
counter_examples = ["INFO flux capacitor nominal on node-1"]
[rule.line]
regex = 'flux capacitor overheated on (?P<node>[\\w-]+)'
"""


def _env() -> dict[str, str]:
    prefixes = ("LOGMARKET_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_")
    return {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}


@pytest.fixture(scope="module")
def rules_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="lmr", dir="/tmp"))


@pytest.fixture(scope="module")
def daemon(rules_dir: Path) -> Iterator[DaemonProcess]:
    root = Path(tempfile.mkdtemp(prefix="lmu", dir="/tmp"))
    d = DaemonProcess(root, "--rules-dir", str(rules_dir), "--max-logs-per-hour", "1000",
                      "--requests-per-minute", "100000", marketplace=True).start()  # fmt: skip
    try:
        yield d
    finally:
        d.stop()


def analyze(d: DaemonProcess, log: str) -> dict[str, Any]:
    status, a = http("POST", d.url + API + "/analyze",
                     {"source": "runtime", "logContent": log, "subPKPId": "rules-user"},
                     token=d.admin_token)  # fmt: skip
    assert status == 200, a
    return a  # type: ignore[no-any-return]


def patterns(a: dict[str, Any]) -> list[str]:
    return [p["pattern"] for p in a["aiInsights"]["errorPatterns"]]


def test_a_dropped_rule_changes_findings_without_a_restart(
    daemon: DaemonProcess, rules_dir: Path
) -> None:
    assert "flux capacitor overheated on node-7" not in patterns(analyze(daemon, LOG))
    pid = daemon.proc.pid if daemon.proc else None
    (rules_dir / "acme.toml").write_text(FLUX)
    # the directory is looked at again at most every couple of seconds, when a log is analysed
    assert wait_for(
        lambda: "flux capacitor overheated on node-7" in patterns(analyze(daemon, LOG)), 30, 0.5
    ), daemon.log.read_text()[-2000:]
    assert daemon.proc is not None and daemon.proc.pid == pid  # the same process
    # a broken pack is refused and logged; the rules in force stay
    (rules_dir / "broken.toml").write_text(FLUX.replace('"acme-flux-overheat"', '"acme-broken"')
                                           .replace("overheated on (?P", "overheated on (P"))  # fmt: skip
    assert wait_for(
        lambda: analyze(daemon, LOG) and "rule pack refused" in daemon.log.read_text(), 30, 0.5
    ), daemon.log.read_text()[-2000:]
    assert "broken.toml: rule 'acme-broken'" in daemon.log.read_text()
    assert "flux capacitor overheated on node-7" in patterns(analyze(daemon, LOG))


def test_a_broken_user_pack_stops_the_start_naming_file_and_rule() -> None:
    root = Path(tempfile.mkdtemp(prefix="lmb", dir="/tmp"))
    bad = root / "rules"
    bad.mkdir()
    (bad / "acme.toml").write_text(FLUX.replace('"WARN flux', '"WARN flux-capacitor'))
    d = DaemonProcess(root, "--rules-dir", str(bad), "--log-format", "json", marketplace=True)
    result = subprocess.run(d.command(), env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr[-2000:]
    (line,) = result.stderr.strip().splitlines()
    error = json.loads(line)["error"]
    assert "acme.toml: rule 'acme-flux-overheat': example 1 makes no finding" in error


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logmarketd", "rules", "test", *args],
                          env=_env(), capture_output=True, text=True, timeout=60)  # fmt: skip


def test_rules_test_passes_on_the_shipped_packs() -> None:
    result = _cli()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines()[-1].endswith(" passed, 0 failed")


def test_rules_test_fails_on_a_broken_user_pack_naming_the_rule(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(FLUX)
    (tmp_path / "mine.toml").write_text(
        FLUX.replace('"acme-flux-overheat"', '"acme-nominal"').replace(
            '["INFO flux capacitor nominal on node-1"]', '["INFO flux capacitor overheated on x"]'
        )
    )
    result = _cli(str(tmp_path))
    assert result.returncode == 1, result.stdout
    fails = [line for line in result.stdout.splitlines() if line.startswith("FAIL ")]
    assert len(fails) == 1, result.stdout
    assert "mine.toml: rule 'acme-nominal': counter-example 1 makes a finding" in fails[0]
    assert result.stdout.strip().splitlines()[-1].endswith(" passed, 1 failed")

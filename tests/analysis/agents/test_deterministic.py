"""The same log gives the same report in every process: nothing the agents publish may follow
the iteration order of a set of strings, which Python's hash seed changes per process."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.bench.loghub import DATA
from tests.conftest import REPO

_REPORT = """
import json, sys
from logmarketd.analysis.analyse import inspect_log
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
print(json.dumps([(f.agent_id, f.key, f.count) for f in inspect_log(text, "runtime").findings]))
"""


def _findings(log: str, seed: str) -> str:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    out = subprocess.run(
        [sys.executable, "-c", _REPORT, log], cwd=REPO, env=env, capture_output=True,
        text=True, check=True, timeout=120,
    )  # fmt: skip
    return out.stdout


def test_an_sshd_log_with_many_attackers_reports_them_in_the_same_order_whatever_the_seed() -> None:
    log = str(DATA / "OpenSSH" / "OpenSSH_2k.log")
    reports = {_findings(log, seed) for seed in ("1", "2", "3", "4")}
    assert len(reports) == 1
    assert reports.pop().count("auth-brute:") > 5

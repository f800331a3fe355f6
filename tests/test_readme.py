"""The README's commands run as written: each block marked ``<!-- readme-test -->`` is
executed, in order, in one shell, against a real daemon in this repository."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.conftest import REPO, DaemonProcess, counters

MARKED = re.compile(r"<!-- readme-test -->\n```sh\n(.*?)```", re.S)


def test_readme_marked_blocks_run_against_the_daemon(short_tmp: Path) -> None:
    """Every marked block exits 0; the curl calls get real answers from the daemon."""
    blocks = MARKED.findall((REPO / "README.md").read_text())
    assert len(blocks) >= 3
    d = DaemonProcess(short_tmp, marketplace=True)
    d.socket = d.state_dir / "logmarketd.sock"  # where `.logmarket/` puts it under make run
    d.start()
    try:
        script = "set -euo pipefail\n" + "\n".join(blocks)
        # The README speaks of `make run`'s defaults; point them at this test's daemon.
        script = script.replace("127.0.0.1:8765", f"127.0.0.1:{d.port}")
        script = script.replace(".logmarket/", f"{d.state_dir}/")
        script = script.replace("curl -s ", "curl -sf ")  # an HTTP error fails the script
        script = script.replace("logmarket keys create bob",
                                f"logmarket keys create bob --state-dir {d.state_dir}")  # fmt: skip
        work = short_tmp / "work"
        work.mkdir()
        for name in ("daemon", ".venv"):
            (work / name).symlink_to(REPO / name)
        result = subprocess.run(
            ["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=180,
            env={**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
                 "LOGMARKET_URL": d.url},
        )  # fmt: skip
        stored = counters(d.db).get("records_stored", 0)
    finally:
        d.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert stored >= 4, "the app's records and the tailed lines reach the daemon"
    assert "analysis la_" in out  # logmarket submit's summary
    assert '"transactions"' in out and '"totalLogs": 2' in out and '"simulated": true' in out

"""`make run`, the README's first command: banner, socket and /healthz within 10 s."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import REPO, free_port, http_get, wait_for


def test_make_run_serves_healthz_within_10_seconds(short_tmp: Path) -> None:
    """From the repository: make run prints the banner and answers /healthz in under 10 s."""
    port = free_port()
    args = f"--state-dir {short_tmp / 'state'} --http 127.0.0.1:{port}"
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"ARGS={args}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "LOGMARKET_LOG_FORMAT": "json"},
    )
    try:
        ok = wait_for(lambda: _healthy(port), timeout=10)
        elapsed = time.monotonic() - started
        assert ok, "no /healthz within 10 s"
        print(f"make run → /healthz in {elapsed:.2f} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "logmarketd is running" in out
    assert str(short_tmp / "state" / "logmarketd.sock") in out
    assert '"class": "logmarket.Handler"' in out


def _healthy(port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200
    except OSError:
        return False

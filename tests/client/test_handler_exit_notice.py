"""A short script that logs while the daemon is down says so once at exit, on stderr through
``warnings``, and how long it waits (``flush_timeout``) instead of a silent pause."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = """
import logging, logmarket
logmarket.install(flush_timeout=0.3)
log = logging.getLogger("job")
for n in range(3):
    log.warning("step %d", n)
"""


def _run(tmp_path: Path, script: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGMARKET_")}
    env["LOGMARKET_SOCKET"] = str(tmp_path / "nobody-here.sock")
    return subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip


def test_daemon_down_at_exit_is_said_once_with_the_wait(tmp_path: Path) -> None:
    result = _run(tmp_path, SCRIPT)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "LogmarketWarning" in line]
    assert len(notices) == 1, result.stderr
    notice = notices[0]
    assert str(tmp_path / "nobody-here.sock") in notice, notice
    assert "0.3 s" in notice and "flush_timeout" in notice and "3 records" in notice, notice


def test_silent_when_nothing_waits(tmp_path: Path) -> None:
    """Nothing logged, nothing said; a handler closed twice says it once."""
    result = _run(tmp_path, "import logmarket; logmarket.install(flush_timeout=0.3)\n")
    assert "LogmarketWarning" not in result.stderr, result.stderr
    twice = SCRIPT + "h = logging.getLogger().handlers[0]\nh.close()\nh.close()\n"
    result = _run(tmp_path, twice)
    assert result.stderr.count("LogmarketWarning") == 1, result.stderr

"""The daemon says in one line that it stopped, and what it drained on the way out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import DaemonProcess


def test_sigterm_logs_one_stop_line_with_what_was_drained(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp, "--log-format", "json", marketplace=True).start()
    sample = Path(__file__).parents[2] / "daemon/logmarketd/samples/build-gcc-error.log"
    sent = subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "send", str(sample), "--source", "build",
         "--socket", str(d.socket)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    d.stop()
    events = [json.loads(line) for line in d.log.read_text().splitlines() if line.startswith("{")]
    stopped = [e for e in events if e.get("event") == "stopped"]
    assert len(stopped) == 1, events[-5:]
    line = stopped[0]
    lines = len(sample.read_text().splitlines())
    assert line["records_stored"] == lines, line
    for key in ("records_drained", "frames_drained", "windows_closed", "inbox_left", "seconds"):
        assert key in line, line
    assert line is events[-1] or events.index(line) == len(events) - 1, "the last line"

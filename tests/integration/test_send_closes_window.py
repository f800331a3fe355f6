"""``logmarket send FILE`` ends its window with the file's last line (``"eof": true``): the
file is analysed when it has been sent, not a minute later when ``--window-seconds`` runs
out; ``--keep-open`` leaves the window open for more lines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO, DaemonProcess, http, wait_for

LOG = REPO / "daemon" / "logmarketd" / "samples" / "runtime-traceback.log"


def _analyses(d: DaemonProcess, sub: str) -> list[dict[str, object]]:
    status, body = http("GET", f"{d.url}/npe/log-marketplace/sub-pkp/{sub}", token=d.admin_token)
    assert status == 200, body
    return list(body["analyses"])


def _send(d: DaemonProcess, key: str, *extra: str) -> str:
    sent = subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "send", str(LOG), "--source", "runtime",
         "--socket", str(d.socket), "--key", key, *extra],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return sent.stderr


def test_a_sent_file_is_analysed_without_waiting_for_the_window(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp, "--window-seconds", "3600", marketplace=True).start()
    try:
        said = _send(d, d.make_key("dana"))
        assert "ends the window" in said, said
        assert wait_for(lambda: len(_analyses(d, "dana")) == 1, 30), "analysed at once"
        found = _analyses(d, "dana")[0]["aiInsights"]["errorPatterns"]  # type: ignore[index]
        assert any("customer_id" in f["pattern"] for f in found), found
        _send(d, d.make_key("eve"), "--keep-open")
        assert not wait_for(lambda: bool(_analyses(d, "eve")), 3), "the window stays open"
    finally:
        d.stop()

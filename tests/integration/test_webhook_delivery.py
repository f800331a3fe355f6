"""Webhooks from the real daemon: signed, retried until acknowledged, and delivered once
even when the daemon is killed between the ledger write and the delivery."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from logmarketd.market.webhooks import verify_signature
from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http, wait_for

SECRET = "whsec-test-0123456789"


class Receiver:
    """A webhook endpoint on 127.0.0.1 that fails on demand and records what it accepted."""

    def __init__(self) -> None:
        self.accepting = False
        self.accepted: list[dict[str, Any]] = []
        self.refused = 0
        receiver = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if not receiver.accepting:
                    receiver.refused += 1
                    self.send_response(503)
                    self.end_headers()
                    return
                ok = verify_signature(SECRET, self.headers["X-Logmarket-Signature"], body)
                receiver.accepted.append({"ok": ok, "id": self.headers["X-Logmarket-Event-Id"],
                                          "body": json.loads(body)})  # fmt: skip
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def test_daemon_killed_before_delivery_delivers_each_event_once(
    short_tmp: Path, receiver: Receiver
) -> None:
    """Payment committed, receiver down, daemon SIGKILLed; after a restart every event
    arrives once, correctly signed."""
    args = ("--webhook-url", receiver.url, "--webhook-secret", SECRET,
            "--webhook-max-backoff", "0.5")  # fmt: skip
    d = DaemonProcess(short_tmp, *args, marketplace=True).start()
    content = dict((n, c) for n, _, c in SAMPLES)["runtime-traceback.log"]
    status, a = http("POST", f"{d.url}/npe/log-marketplace/analyze",
                     {"source": "runtime", "logContent": content, "subPKPId": "kim"},
                     token=d.admin_token)  # fmt: skip
    assert status == 200 and a["paymentAmount"] > 0, a
    if not a["paid"]:
        assert http("POST", f"{d.url}/npe/log-marketplace/pay/{a['id']}", None,
                    token=d.admin_token)[0] == 200  # fmt: skip
    assert wait_for(lambda: receiver.refused >= 2, 20)  # it tried, and retries
    d.kill(signal.SIGKILL)
    receiver.accepting = True
    d.start()
    try:
        assert wait_for(lambda: any(e["body"]["type"] == "log.payment.executed"
                                    for e in receiver.accepted), 30)  # fmt: skip
        wait_for(lambda: False, 1.5)  # time for any duplicate to show up
    finally:
        d.stop()
    ids = [e["id"] for e in receiver.accepted]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert all(e["ok"] for e in receiver.accepted), "bad signature"
    types = {e["body"]["type"] for e in receiver.accepted}
    assert {"log.payment.executed", "game.points.awarded", "achievement.unlocked"} <= types


def test_webhook_url_without_secret_refuses_to_start(short_tmp: Path) -> None:
    """An unsigned webhook is a configuration error, said at startup."""
    import subprocess

    d = DaemonProcess(short_tmp, "--webhook-url", "http://127.0.0.1:9/x", marketplace=True)
    result = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "secret" in result.stderr.lower()

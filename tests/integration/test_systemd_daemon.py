"""The daemon under a service manager: a real logmarketd process given its client socket
(LISTEN_FDS) and a notify socket, as systemd runs logmarketd.socket + logmarketd.service.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import free_port, http_get, stored_messages
from tests.daemon.test_systemd import ACTIVATOR, NotifyReceiver, unix_listener
from tests.rawclient import secret_for


def wait_for_message(receiver: NotifyReceiver, key: str, timeout: float = 20) -> list[str]:
    """The next datagram holding ``key``; earlier ones (pings, statuses) are skipped."""
    deadline = time.monotonic() + timeout
    while True:
        receiver.sock.settimeout(max(0.1, deadline - time.monotonic()))
        message = receiver.recv()
        if any(item.startswith(key) for item in message):
            return message


def test_daemon_takes_the_passed_socket_notifies_and_leaves_the_socket_to_systemd(
    short_tmp: Path,
) -> None:
    """An app connects and logs before the daemon starts; the activated daemon acks it, says
    READY=1 only once /healthz answers, pings the watchdog, reports counts in STATUS=, says
    STOPPING=1 on SIGTERM, exits 0, and leaves the socket file listening for the next start."""
    path = short_tmp / "lm.sock"
    listener = unix_listener(path)
    os.chmod(path, 0o660)
    receiver = NotifyReceiver(str(short_tmp / "notify"))
    early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    early.settimeout(30)
    early.connect(str(path))  # queued by the kernel: nobody has accepted yet
    hello = {
        "type": "hello",
        "version": 1,
        "clientId": "early",
        "acks": True,
        "clientSecret": secret_for("early"),
    }
    batch = {"type": "batch", "seq": 0, "records": [{"message": "before the daemon"}]}
    early.sendall((json.dumps(hello) + "\n" + json.dumps(batch) + "\n").encode())

    port = free_port()
    state = short_tmp / "state"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LISTEN_", "LOGMARKET_"))}
    env.update(NOTIFY_SOCKET=receiver.env_value, WATCHDOG_USEC="400000",
               LISTEN_FDNAMES="ingest", LOGMARKET_LOG_FORMAT="json")  # fmt: skip
    argv = ["-m", "logmarketd", "--state-dir", str(state), "--socket", str(path),
            "--http", f"127.0.0.1:{port}"]  # fmt: skip
    log = short_tmp / "daemon.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", ACTIVATOR, "1", str(listener.fileno()), *argv],
            pass_fds=[listener.fileno()], env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        ready = wait_for_message(receiver, "READY=1")
        assert http_get(f"http://127.0.0.1:{port}/healthz")[0] == 200  # up before READY=1
        assert ready[0] == "READY=1" and ready[1].startswith("STATUS=") and "WATCHDOG=1" in ready
        buf = b""
        while buf.count(b"\n") < 2:
            chunk = early.recv(4096)
            assert chunk, log.read_text()
            buf += chunk
        welcome, ack = (json.loads(line) for line in buf.splitlines()[:2])
        assert welcome["type"] == "welcome"
        assert ack == {"type": "ack", "seq": 0, "duplicate": False}
        status = wait_for_message(receiver, "STATUS=1 connections, 1 records stored")
        assert "WATCHDOG=1" in status
        early.close()
        proc.send_signal(signal.SIGTERM)
        stopping = wait_for_message(receiver, "STOPPING=1")
        assert stopping[0] == "STOPPING=1"
        assert proc.wait(30) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        receiver.sock.close()
    assert stored_messages(state / "logmarket.db") == ["before the daemon"]
    # Still systemd's socket: the file is there and a new app can connect (and wait).
    assert path.is_socket()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as later:
        later.connect(str(path))
    listener.close()
    assert "using the socket passed by the service manager" in log.read_text()

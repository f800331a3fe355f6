"""The daemon's socket side with raw frames: dedup, acks, bad input, lifecycle."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import DaemonProcess, counters, http_get, stored_messages, wait_for
from tests.rawclient import Raw


def test_resent_batch_is_acked_as_duplicate_and_stored_once(
    daemon: DaemonProcess, raw: Callable[..., Raw]
) -> None:
    """Same (clientId, seq) twice, even over a new connection: one copy stored."""
    a = raw(daemon.socket)
    assert a.hello("c1")["lastSeq"] == -1
    assert a.batch(0, "one", "two") == {"type": "ack", "seq": 0, "duplicate": False}
    assert a.batch(0, "one", "two")["duplicate"] is True
    a.close()
    b = raw(daemon.socket)
    assert b.hello("c1")["lastSeq"] == 0
    assert b.batch(0, "one", "two")["duplicate"] is True
    assert b.batch(1, "three")["duplicate"] is False
    b.close()
    assert stored_messages(daemon.db) == ["one", "two", "three"]
    m = daemon.metrics()
    assert m["logmarket_records_duplicate_total"] == 4
    assert m["logmarket_records_stored_total"] == 3


def test_garbage_never_disturbs_other_clients(
    daemon: DaemonProcess, raw: Callable[..., Raw]
) -> None:
    """Random bytes, a 50 MiB line, bad JSON, wrong types and a client that never reads its
    acks: each is refused or contained, and a well-behaved client is served throughout."""
    good = raw(daemon.socket)
    good.hello("good")
    seq = 0

    def good_roundtrip() -> None:
        nonlocal seq
        assert good.batch(seq, f"good-{seq}")["type"] == "ack"
        seq += 1

    noise = raw(daemon.socket)
    noise.send(os.urandom(64 * 1024) + b"\n")
    good_roundtrip()
    noise.send(b"{not json\n")
    noise.send(b'{"type": "batch", "seq": "x", "records": 5}\n')
    noise.send(b'{"type": "batch", "seq": 1, "records": [{"message": 7}]}\n')
    noise.send(b"[1, 2, 3]\n")
    noise.send(b'{"type": "launch-missiles"}\n')
    good_roundtrip()

    big = raw(daemon.socket, timeout=60)
    chunk = b"A" * (1024 * 1024)
    for _ in range(50):
        big.send(chunk)
        good_roundtrip() if _ % 10 == 0 else None
    big.send(b"\n")
    reply = big.read()
    assert reply["type"] == "error" and reply["reason"] == "too-large"
    big.hello("big")
    assert big.batch(0, "after-the-big-one")["type"] == "ack"  # same connection lives on

    # A client that floods batches and never reads one ack only stalls itself.
    deaf = raw(daemon.socket, timeout=5).sock
    deaf.sendall(b'{"type":"hello","clientId":"deaf"}\n')
    frame = json.dumps({"type": "batch", "seq": 0, "records": [{"message": "x" * 1000}] * 50})

    def flood() -> None:
        try:
            for s in range(100_000):
                deaf.sendall(frame.replace('"seq": 0', f'"seq": {s}').encode() + b"\n")
        except OSError:
            pass  # its socket buffer filled up: the daemon stopped reading it, as designed

    t = threading.Thread(target=flood, daemon=True)
    t.start()
    time.sleep(1.0)
    for _ in range(20):
        good_roundtrip()

    m = daemon.metrics()
    rejected = {k: v for k, v in m.items() if k.startswith("logmarket_frames_rejected_total")}
    assert rejected['logmarket_frames_rejected_total{reason="too-large"}'] >= 1
    assert rejected['logmarket_frames_rejected_total{reason="invalid-json"}'] >= 2
    assert rejected['logmarket_frames_rejected_total{reason="invalid-frame"}'] >= 4
    assert daemon.healthy()
    deaf.shutdown(socket.SHUT_RDWR)
    t.join(10)
    stored = stored_messages(daemon.db)
    assert [m for m in stored if m.startswith("good-")] == [f"good-{i}" for i in range(seq)]


def test_refused_batch_error_names_its_seq(daemon: DaemonProcess, raw: Callable[..., Raw]) -> None:
    """A batch refused for its content says which seq, so the client can let it go."""
    c = raw(daemon.socket)
    c.hello("c")
    c.send({"type": "batch", "seq": 4, "records": [{"no-message": True}]})
    reply = c.read()
    assert reply["type"] == "error" and reply["reason"] == "invalid-frame" and reply["seq"] == 4


def test_client_without_hello_or_acks_still_works(daemon: DaemonProcess) -> None:
    """socat-style clients: bare record frames and batches, no hello, no acks expected."""
    proc = subprocess.run(
        [sys.executable, "-c", f"""
import socket
s = socket.socket(socket.AF_UNIX); s.connect({str(daemon.socket)!r})
s.sendall(b'{{"type":"record","message":"from a shell","level":"ERROR"}}\\n')
s.sendall(b'{{"type":"batch","seq":0,"records":[{{"message":"b1"}},{{"message":"b2"}}]}}')
s.close()
"""],
        check=True,
    )  # fmt: skip
    assert proc.returncode == 0
    assert wait_for(lambda: len(stored_messages(daemon.db)) == 3)
    assert stored_messages(daemon.db) == ["from a shell", "b1", "b2"]


def test_socket_mode_is_0660(daemon: DaemonProcess) -> None:
    """The socket is never world-accessible."""
    mode = stat.S_IMODE(os.stat(daemon.socket).st_mode)
    assert mode == 0o660


def test_stale_socket_is_replaced_and_live_daemon_refused(short_tmp: Path) -> None:
    """A dead daemon's socket file is cleaned up; a live daemon's is never stolen."""
    first = DaemonProcess(short_tmp).start()
    try:
        first.kill(signal.SIGKILL)
        assert first.socket.exists()  # left behind by SIGKILL
        first.start()
        second = DaemonProcess(short_tmp)
        second.socket = first.socket
        result = subprocess.run(second.command(), capture_output=True, text=True, timeout=30)
        assert result.returncode == 1
        assert "another logmarketd is already serving" in result.stdout + result.stderr
        assert first.healthy()
    finally:
        first.stop()


def test_sigterm_is_graceful_exit_zero_socket_removed(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    """SIGTERM: acked data committed, exit code 0, socket file gone."""
    d = DaemonProcess(short_tmp).start()
    c = raw(d.socket)
    c.hello("t")
    assert c.batch(0, "kept")["type"] == "ack"
    assert d.kill(signal.SIGTERM) == 0
    assert not d.socket.exists()
    assert stored_messages(d.db) == ["kept"]


def test_corrupt_store_fails_startup_with_clear_message(short_tmp: Path) -> None:
    """A damaged database file stops startup with a message and exit code 1."""
    d = DaemonProcess(short_tmp)
    d.state_dir.mkdir()
    d.db.write_bytes(b"this is not a database" * 100)
    result = subprocess.run(d.command(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "cannot be used" in result.stderr and "move it aside" in result.stderr


def test_records_stored_total_survives_restart(short_tmp: Path, raw: Callable[..., Raw]) -> None:
    """The dashboard's ingest.recordsStored is a running total kept in the store."""
    d = DaemonProcess(short_tmp).start()
    try:
        c = raw(d.socket)
        c.hello("r")
        c.batch(0, "a", "b", "c")
        c.close()
        d.kill(signal.SIGTERM)
        d.start()
        status, body = http_get(d.url + "/npe/log-marketplace/dashboard", token=d.admin_token)
        assert status == 200
        assert json.loads(body)["ingest"]["recordsStored"] == 3
        assert counters(d.db)["records_stored"] == 3
    finally:
        d.stop()


def test_metrics_expose_the_contract_names(daemon: DaemonProcess) -> None:
    """/metrics carries the counters external checks look for."""
    status, body = http_get(daemon.url + "/metrics")
    assert status == 200
    text = body.decode()
    for name in (
        "logmarket_records_received_total",
        "logmarket_records_stored_total",
        "logmarket_records_duplicate_total",
        "logmarket_frames_rejected_total",
        "logmarket_client_dropped_total",
        "logmarket_inbox_depth",
        "logmarket_connections",
    ):
        assert f"\n{name}" in text, name

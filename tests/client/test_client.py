"""The client package alone: standard library only, and a handler that never hurts the app."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import logmarket
from logmarket.protocol import decode_frame, encode_frame
from logmarket.shipper import Shipper


def test_client_imports_only_the_standard_library() -> None:
    """Importing logmarket (and its CLI) loads nothing outside the stdlib; the import time is
    printed for the record."""
    code = (
        "import sys, time; before = set(sys.modules); t = time.perf_counter()\n"
        "import logmarket, logmarket.cli, logmarket.shipper\n"
        "t = time.perf_counter() - t\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'logmarket'})); print(t)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True).stdout.splitlines()  # fmt: skip
    assert out[0] == "[]", out[0]
    print(f"import logmarket: {float(out[1]) * 1000:.1f} ms")


@pytest.mark.slow
def test_emit_with_no_daemon_never_raises_and_counts_overflow(tmp_path: Path) -> None:
    """No daemon at all: logging goes on, the queue stays bounded and drops are counted."""
    handler = logmarket.Handler(socket_path=str(tmp_path / "none.sock"), capacity=100)
    logger = logging.getLogger("test.nodaemon")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        for i in range(1000):
            logger.warning("x %d", i)
        assert len(handler._queue) == 100  # nothing leaves the queue without a connection
        assert handler.dropped == 900
        assert handler.flush(0.2) is False
    finally:
        logger.removeHandler(handler)
        handler.close()


def test_handler_and_shipper_make_a_secret_with_their_client_id(tmp_path: Path) -> None:
    """Each client id comes with its own token_urlsafe(32) secret, sent in the hello; a forked
    child gets a new id and a new secret; an id given to the shipper keeps the given secret."""
    a = logmarket.Handler(socket_path=str(tmp_path / "s"))
    b = logmarket.Handler(socket_path=str(tmp_path / "s"))
    try:
        assert a.client_secret != b.client_secret and a.client_id != b.client_id
        assert re.fullmatch(r"[A-Za-z0-9_-]{43}", a.client_secret)
        a._start()
        assert a._shipper is not None
        assert a._shipper.hello["clientId"] == a.client_id
        assert a._shipper.hello["clientSecret"] == a.client_secret
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report what the fork hook left it
            os.write(write, f"{b.client_id} {b.client_secret}".encode())
            os._exit(0)
        os.close(write)
        child_id, child_secret = os.read(read, 1000).decode().split()
        os.close(read)
        os.waitpid(pid, 0)
        assert child_id != b.client_id and child_secret != b.client_secret
    finally:
        a.close()
        b.close()
    fresh = Shipper(str(tmp_path / "s"), {})
    assert fresh.hello["clientId"] == fresh.client_id and len(fresh.client_secret) == 43
    kept = Shipper(str(tmp_path / "s"), {"clientId": "c" * 32, "clientSecret": "k" * 43})
    assert (kept.hello["clientId"], kept.hello["clientSecret"]) == ("c" * 32, "k" * 43)


def test_frames_round_trip_and_exotic_values_survive() -> None:
    """Frames are one JSON line; values JSON cannot hold become their repr, surrogates escape."""
    raw = encode_frame({"type": "record", "message": "caf\udce9", "extra": {"o": object()}})
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    frame = decode_frame(raw)
    assert frame["message"] == "caf\udce9"
    assert frame["extra"]["o"].startswith("<object")
    assert json.loads(raw)["type"] == "record"

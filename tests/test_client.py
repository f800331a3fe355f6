"""The client package alone: standard library only, and a handler that never hurts the app."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import logmarket
from logmarket.protocol import decode_frame, encode_frame


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


def test_bad_source_is_refused_at_configuration_time(tmp_path: Path) -> None:
    """A typo in the source fails where it is configured, not silently later."""
    try:
        logmarket.Handler(socket_path=str(tmp_path / "s"), source="prod")
    except ValueError as exc:
        assert "build, test, deploy, runtime" in str(exc)
    else:
        raise AssertionError("accepted an unknown source")


def test_frames_round_trip_and_exotic_values_survive() -> None:
    """Frames are one JSON line; values JSON cannot hold become their repr, surrogates escape."""
    raw = encode_frame({"type": "record", "message": "caf\udce9", "extra": {"o": object()}})
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    frame = decode_frame(raw)
    assert frame["message"] == "caf\udce9"
    assert frame["extra"]["o"].startswith("<object")
    assert json.loads(raw)["type"] == "record"

"""A daemon stage that dies is never a live process that silently stores nothing: health
fails naming the stage, and the daemon stops with exit code 1 (systemd restarts it)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sqlite3
import subprocess
import urllib.request
from pathlib import Path

import pytest
from logmarketd.service import Daemon
from logmarketd.settings import load_settings

from tests.conftest import DaemonProcess, free_port, wait_for


def _health(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url + "/healthz", timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


async def _health_async(url: str) -> tuple[int, dict[str, object]]:
    return await asyncio.to_thread(_health, url)


@pytest.mark.parametrize("how", ["cancelled", "store-connection-lost"])
async def test_a_dead_inbox_writer_fails_health_and_exits_1(short_tmp: Path, how: str) -> None:
    """The inbox writer dies (cancelled from outside, or its database connection lost
    underneath it): /healthz answers 503 with the stage and why, and run() returns 1."""
    port = free_port()
    settings = load_settings({
        "state_dir": short_tmp / "state", "socket": short_tmp / "d.sock",
        "http": f"127.0.0.1:{port}", "log_marketplace_enabled": False,
        "shutdown_timeout": 1.0,
    })  # fmt: skip
    ready = asyncio.Event()
    daemon = Daemon(settings, on_ready=lambda _d: ready.set())
    run = asyncio.create_task(daemon.run())
    await asyncio.wait_for(ready.wait(), 20)
    url = f"http://127.0.0.1:{port}"
    assert (await _health_async(url))[0] == 200
    writer = daemon.stages["inbox-writer"]
    assert daemon.store is not None
    # Hold the HTTP side open past the failure, so health can be read while it stops.
    seen: list[tuple[int, dict[str, object]]] = []
    original_exit = daemon.should_exit

    async def watch_health() -> None:
        await original_exit.wait()
        seen.append(await _health_async(url))

    watcher = asyncio.create_task(watch_health())
    if how == "cancelled":
        writer.cancel()
    else:
        await daemon.store.db.close()
        reader, w = await asyncio.open_unix_connection(str(settings.socket_path))
        # A bare batch (no hello): the writer meets the lost connection at its commit.
        w.write(b'{"type":"batch","seq":0,"records":[{"message":"m"}]}\n')
        await w.drain()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(reader.read(), 10)
        w.close()
    code = await asyncio.wait_for(run, 30)
    await watcher
    assert code == 1
    assert daemon.failure is not None and daemon.failure[0] == "inbox-writer"
    assert seen and seen[0][0] == 503, seen
    assert seen[0][1]["stage"] == "inbox-writer" and seen[0][1]["status"] == "failed"


def test_damaged_store_is_refused_with_what_to_do(short_tmp: Path) -> None:
    """Reported: a database damaged in the middle (pages overwritten) started, said healthy,
    answered 500 on reads and kept writing into the damaged file."""
    d = DaemonProcess(short_tmp).start()
    try:
        s = socket.socket(socket.AF_UNIX)
        s.connect(str(d.socket))
        for i in range(300):
            s.sendall(json.dumps({"type": "record", "message": f"line {i} " + "x" * 2000})
                      .encode() + b"\n")  # fmt: skip
        s.close()
        assert wait_for(lambda: _inbox_rows(d.db) == 300, 20)
    finally:
        d.stop()
    size = d.db.stat().st_size
    assert size > 200 * 4096
    with open(d.db, "r+b") as f:  # overwrite pages in the middle, header and schema intact
        f.seek(size // 2 // 4096 * 4096)
        f.write(b"\xa5" * 4096 * 8)
    result = subprocess.run(d.command(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    out = result.stdout + result.stderr
    assert "damaged" in out and "move" in out and ".recover" in out, out[-2000:]


def _inbox_rows(db: Path) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0])

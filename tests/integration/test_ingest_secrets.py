"""A secret logged through the socket is redacted as it arrives and still reported: the
Security Guardian sees the redactor's placeholder and reports the leak (its kind and line,
never the value), and the leak alert goes out. The real daemon, socket and SQLite file."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

from tests.conftest import DaemonProcess, wait_for
from tests.rawclient import Raw

KEY = "AKIAIOSFODNN7EXAMPLQ"


def bodies(db: Path) -> list[dict[str, object]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [json.loads(b) for (b,) in conn.execute("SELECT body FROM analyses")]


def test_a_secret_sent_over_the_socket_is_redacted_and_reported(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    d = DaemonProcess(short_tmp, marketplace=True).start()
    try:
        conn = raw(d.socket)
        conn.hello("c-secret-1", source="runtime", stream="app")
        conn.send({"type": "batch", "seq": 0, "records": [
            {"message": "worker started"},
            {"message": f"INFO boto: connecting with {KEY}", "eof": True},
        ]})  # fmt: skip
        assert conn.read()["type"] == "ack"
        assert wait_for(lambda: bool(bodies(d.db)), 60)
        (analysis,) = bodies(d.db)
        concerns = analysis["aiInsights"]["securityConcerns"]  # type: ignore[index]
        leaks = [c for c in concerns if c["threat"].startswith("leaked secret")]
        assert leaks and leaks[0]["severity"] == "critical", concerns
        assert "redacted at ingest" in leaks[0]["threat"]
        with contextlib.closing(sqlite3.connect(d.db)) as db:
            kinds = [k for (k,) in db.execute("SELECT type FROM events")]
        assert "security.secret.leaked" in kinds
    finally:
        d.stop()
    for path in d.state_dir.iterdir():
        if path.is_file():
            assert KEY.encode() not in path.read_bytes(), path

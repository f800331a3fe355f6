"""Windows: records become analysed logs per (Sub-PKP, source, stream), each record in
exactly one window, across a SIGKILL of the daemon."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import sqlite3
from pathlib import Path

from tests.conftest import DaemonProcess, run_app, wait_for
from tests.rawclient import secret_for


def windows(db: Path) -> list[tuple[str, int, int, int, int, int, str]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "SELECT key, first_row, first_index, last_row, last_index, n_records, closed_by"
            " FROM windows ORDER BY created"
        ).fetchall()


def scalar(db: Path, sql: str) -> int:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute(sql).fetchone()[0])


def send_batches(
    sock_path: Path, client: str, batches: list[list[dict[str, object]]], key: str | None = None
) -> None:
    s = socket.socket(socket.AF_UNIX)
    s.connect(str(sock_path))
    f = s.makefile("rwb")
    f.write(json.dumps({"type": "hello", "clientId": client, "clientSecret": secret_for(client),
                        "source": "test",
                        "subPKPId": "pia", "stream": "ci.log", "key": key}).encode() + b"\n")  # fmt: skip
    f.flush()
    f.readline()
    for seq, records in enumerate(batches):
        f.write(json.dumps({"type": "batch", "seq": seq, "records": records}).encode() + b"\n")
        f.flush()
        assert json.loads(f.readline())["type"] == "ack"
    s.close()


def test_app_records_become_analyses_and_leave_the_inbox(short_tmp: Path) -> None:
    """A logging app's records close into windows by size and time and are analysed; the
    analysed records are removed from the inbox (raw content is not kept)."""
    d = DaemonProcess(
        short_tmp, "--window-max-records", "40", "--window-seconds", "1", marketplace=True
    ).start()
    try:
        code = (
            "import logging, logmarket\n"
            "logmarket.install(flush_timeout=30)\n"
            "log = logging.getLogger('shop.api')\n"
            "for i in range(100):\n"
            "    log.info('GET /orders/%d 200 in %d ms', i, 12)\n"
            "try:\n"
            "    {}['customer_id']\n"
            "except KeyError:\n"
            "    log.exception('unhandled error in request POST /orders')\n"
        )
        env = {"LOGMARKET_SOCKET": str(d.socket), "LOGMARKET_KEY": d.make_key("pia")}
        result = run_app(code, env)
        assert result.returncode == 0, result.stderr
        assert wait_for(
            lambda: scalar(d.db, "SELECT COALESCE(SUM(n_records), 0) FROM windows") == 101, 30
        )
        ws = windows(d.db)
        assert [w[5] for w in ws][:2] == [40, 40] and sum(w[5] for w in ws) == 101
        assert {w[6] for w in ws} <= {"size", "time"}
        assert wait_for(lambda: scalar(d.db, "SELECT COUNT(*) FROM inbox") == 0, 10)
        bodies = [json.loads(b) for (b,) in sqlite3.connect(d.db).execute(
            "SELECT body FROM analyses WHERE sub_pkp_id = 'pia'")]  # fmt: skip
        assert len(bodies) == len(ws)
        errors = [e for b in bodies for e in b["aiInsights"]["errorPatterns"]]
        assert any("KeyError" in e["pattern"] for e in errors), errors
        # Repeats collapse into one template, counted across windows and kept in the store.
        with contextlib.closing(sqlite3.connect(d.db)) as conn:
            templates = dict(conn.execute("SELECT template, count FROM templates"
                                          " WHERE superseded_by IS NULL").fetchall())  # fmt: skip
            digests = [json.loads(r[0]) for r in conn.execute("SELECT digest FROM windows")]
        get_orders = [t for t in templates if t.startswith("GET ")]
        assert len(get_orders) == 1 and templates[get_orders[0]] == 100, templates
        first = digests[0][0]
        assert first["count"] == 40 and first["new"] is True and first["examples"]
    finally:
        d.stop()


def test_sigkill_with_an_open_window_analyses_each_record_once(short_tmp: Path) -> None:
    """Two windows closed, one open, SIGKILL: after the restart the open one is analysed and
    nothing is analysed twice."""
    d = DaemonProcess(
        short_tmp, "--window-max-records", "100", "--window-seconds", "3600", marketplace=True
    ).start()
    batches = [[{"message": f"step {b * 30 + i} ok"} for i in range(30)] for b in range(9)]
    send_batches(d.socket, "ci-1", batches)
    assert wait_for(lambda: len(windows(d.db)) == 2, 20)
    d.kill(signal.SIGKILL)
    d.extra = ["--window-max-records", "100", "--window-seconds", "1"]  # marketplace on
    d.start()
    try:
        assert wait_for(lambda: len(windows(d.db)) == 3, 20)
        ws = windows(d.db)
        assert [w[5] for w in ws] == [100, 100, 70]
        # contiguous, non-overlapping positions: each window starts right after the previous
        spans = [((w[1], w[2]), (w[3], w[4])) for w in ws]
        assert all(spans[i][1] < spans[i + 1][0] for i in range(2))
        assert wait_for(lambda: scalar(d.db, "SELECT COUNT(*) FROM inbox") == 0, 10)
        assert scalar(d.db, "SELECT COUNT(*) FROM analyses") == 3
    finally:
        d.stop()


def test_streams_and_sources_get_their_own_windows(short_tmp: Path) -> None:
    """Per-record source and stream overrides split windows; an eof record closes one."""
    d = DaemonProcess(short_tmp, "--window-seconds", "3600", marketplace=True).start()
    try:
        batch = [{"message": "compiling", "stream": "build.log", "source": "build"},
                 {"message": "1 passed", "stream": "test.log", "source": "test"},
                 {"message": "done", "stream": "build.log", "source": "build", "eof": True}]  # fmt: skip
        send_batches(d.socket, "ci-2", [batch], key=d.make_key("pia"))
        assert wait_for(lambda: len(windows(d.db)) == 1, 20)
        (w,) = windows(d.db)
        assert json.loads(w[0]) == ["pia", "build", "build.log"] and w[5] == 2
        assert w[6] == "end-of-stream"
    finally:
        d.stop()

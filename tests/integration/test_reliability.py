"""Nothing acknowledged is lost or stalled: the failures found from outside, each reproduced
against the real daemon exactly as reported."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, http_get, stored_messages, wait_for
from tests.rawclient import Raw, secret_for


def analysed_sub_pkps(db: Path) -> list[str | None]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("SELECT sub_pkp_id FROM analyses ORDER BY created")]


def keyed(d: DaemonProcess, raw: Callable[..., Raw], sub: str) -> Raw:
    """A bare connection (no client id) whose records credit ``sub`` by its key."""
    c = raw(d.socket)
    c.send({"type": "hello", "key": d.make_key(sub)})
    assert c.read()["credited"] == sub
    return c


def error_record(sub: str) -> dict[str, object]:
    return {"type": "record", "message": f"ERROR payment failed for {sub}: connection refused",
            "level": "ERROR", "subPKPId": sub}  # fmt: skip


def test_records_after_the_inbox_empties_are_analysed(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    """Reported: with 2 s windows, records sent after a quiet gap (once the inbox had been
    emptied) were stored, skipped by the pipeline and deleted unanalysed; row ids must never
    go backwards."""
    d = DaemonProcess(short_tmp, "--window-seconds", "2", marketplace=True).start()
    try:
        for sub in ("first", "second", "third"):
            c = keyed(d, raw, sub)
            c.send(error_record(sub))
            assert wait_for(lambda sub=sub: sub in analysed_sub_pkps(d.db), 15), (
                f"{sub} was never analysed: {analysed_sub_pkps(d.db)}"
            )
            time.sleep(1)
        assert analysed_sub_pkps(d.db) == ["first", "second", "third"]
        # ...and across a restart: the next row id is still above every analysed one.
        d.kill(signal.SIGTERM)
        d.start()
        keyed(d, raw, "fourth").send(error_record("fourth"))
        assert wait_for(lambda: "fourth" in analysed_sub_pkps(d.db), 15)
    finally:
        d.stop()


@pytest.mark.parametrize(
    "frame",
    [
        {"type": "batch", "seq": 2**63, "records": [{"message": "x"}]},
        {"type": "batch", "seq": 1, "dropped": 2**63, "records": [{"message": "x"}]},
        {
            "type": "hello",
            "clientId": "big-pid",
            "clientSecret": secret_for("big-pid"),
            "pid": 2**63,
        },
        {"type": "batch", "seq": 1, "records": [{"message": "x", "line": 10**30}]},
        {"type": "batch", "seq": 1, "records": [{"message": "x", "ts": 1e400}]},
    ],
    ids=["seq", "dropped", "hello-pid", "record-line", "record-ts-inf"],
)
def test_out_of_range_integers_are_rejected_and_ingest_lives_on(
    daemon: DaemonProcess, raw: Callable[..., Raw], frame: dict[str, object]
) -> None:
    """Reported: one batch with seq 2**63 killed the inbox writer; every client after it got
    no ack while /healthz said ok. Now it is a counted invalid-frame rejection."""
    bad = raw(daemon.socket)
    bad.hello("attacker")
    bad.send(json.dumps(frame).replace("Infinity", "1e400").encode() + b"\n")
    reply = bad.read()
    assert reply["type"] == "error" and reply["reason"] == "invalid-frame", reply
    good = raw(daemon.socket)
    good.hello("good-client")
    for seq in range(3):
        assert good.batch(seq, f"good-{seq}") == {"type": "ack", "seq": seq, "duplicate": False}
    assert daemon.healthy()
    assert stored_messages(daemon.db) == ["good-0", "good-1", "good-2"]
    m = daemon.metrics()
    assert m['logmarket_frames_rejected_total{reason="invalid-frame"}'] >= 1


def test_spoofed_client_id_cannot_take_over_another_client(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    """Reported: a local process that knew only a client's id said hello with it, learnt its
    lastSeq and sent seq 10**15, so the real client's later batches were acked as duplicates
    and never stored, also after a restart."""
    d = DaemonProcess(short_tmp).start()
    try:
        real = raw(d.socket)
        assert real.hello("victim")["lastSeq"] == -1
        assert real.batch(0, "real-0")["duplicate"] is False
        for secret in ("a-guessed-secret-0000000", None):
            spoof = raw(d.socket)
            hello: dict[str, object] = {"type": "hello", "clientId": "victim"}
            if secret is not None:
                hello["clientSecret"] = secret
            spoof.send(hello)
            reply = spoof.read()
            assert reply["type"] == "error", reply
            assert "lastSeq" not in reply
            assert spoof.closed_by_peer()
        # Even a spoofer who keeps talking on a fresh socket without a hello cannot claim seqs.
        blind = raw(d.socket)
        blind.send({"type": "batch", "seq": 10**15, "records": [{"message": "spoofed"}]})
        assert real.batch(1, "real-1")["duplicate"] is False
        d.kill(signal.SIGTERM)
        d.start()
        again = raw(d.socket)
        assert again.hello("victim")["lastSeq"] == 1
        assert again.batch(2, "real-2")["duplicate"] is False
        assert wait_for(lambda: "spoofed" in stored_messages(d.db))
        assert [m for m in stored_messages(d.db) if m.startswith("real-")] == [
            "real-0", "real-1", "real-2"
        ]  # fmt: skip
    finally:
        d.stop()


def test_one_sub_pkp_over_its_hourly_limit_stalls_nobody(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    """Reported: a window of a Sub-PKP over MAX_LOGS_PER_HOUR raised at every attempt, never
    closed, and every later window of every other Sub-PKP waited behind it."""
    d = DaemonProcess(
        short_tmp, "--window-seconds", "1", "--max-logs-per-hour", "1", marketplace=True
    ).start()
    try:
        c = keyed(d, raw, "greedy")
        c.send(error_record("greedy"))
        assert wait_for(lambda: analysed_sub_pkps(d.db).count("greedy") == 1, 15)
        c.send(error_record("greedy"))
        time.sleep(1.5)  # the second window closes (over the limit) before the next record
        keyed(d, raw, "patient").send(error_record("patient"))
        assert wait_for(lambda: "patient" in analysed_sub_pkps(d.db), 15), (
            analysed_sub_pkps(d.db), d.log.read_text()[-2000:]
        )  # fmt: skip
        # The window over the limit was analysed and recorded, just not paid.
        assert analysed_sub_pkps(d.db).count("greedy") == 2
        with contextlib.closing(sqlite3.connect(d.db)) as conn:
            paid = conn.execute(
                "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = 'greedy' AND paid = 1"
            ).fetchone()[0]
        assert paid <= 1
        assert "pipeline step failed" not in d.log.read_text()
        status, _ = http_get(d.url + "/healthz")
        assert status == 200
    finally:
        d.stop()

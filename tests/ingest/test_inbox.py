"""The inbox writer against a real SQLite file: group commit, and a full disk that loses
nothing acknowledged."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from logmarketd.ingest.inbox import InboxWriter, Submission
from logmarketd.metrics import Metrics
from logmarketd.store.db import Store


def frame(seq: int, n: int = 10) -> bytes:
    recs = ",".join(f'{{"message":"m{seq}-{i}"}}' for i in range(n))
    return f'{{"type":"batch","seq":{seq},"records":[{recs}]}}'.encode()


async def test_full_disk_fails_the_commit_without_ack_and_recovers(tmp_path: Path) -> None:
    """SQLITE_FULL: no batch of the group is acknowledged, the writer lives on, and the same
    batches commit once space is back."""
    store = await Store.open(tmp_path / "s.db")
    metrics = Metrics()
    writer = InboxWriter(store, metrics)
    await writer.start()
    task = asyncio.create_task(writer.run())
    try:
        page_count = (await store.fetchone("PRAGMA page_count"))[0]  # type: ignore[index]
        await store.db.execute(f"PRAGMA max_page_count={page_count}")
        big = [Submission(frame=frame(s, 400), n_records=400, source="runtime", client_id="c",
                          seq=s) for s in range(3)]  # fmt: skip
        futures = [await writer.submit(item) for item in big]
        for fut in futures:
            with pytest.raises(OSError, match="store unavailable"):
                await fut
        assert metrics.store_errors._value.get() >= 1
        assert await store.inbox_depth() == 0
        await store.db.execute("PRAGMA max_page_count=1073741823")
        retry = [Submission(frame=frame(s, 400), n_records=400, source="runtime", client_id="c",
                            seq=s) for s in range(3)]  # fmt: skip
        outcomes = [await (await writer.submit(item)) for item in retry]
        assert outcomes == ["stored", "stored", "stored"]
        assert await store.inbox_depth() == 1200
    finally:
        await writer.stop()
        await task
        await store.close()


async def test_group_commit_stores_many_batches_in_one_transaction(tmp_path: Path) -> None:
    """Batches queued together commit together, each acked, each client's seq checked."""
    store = await Store.open(tmp_path / "s.db")
    writer = InboxWriter(store, Metrics())
    await writer.start()
    items = [
        Submission(frame=frame(s), n_records=10, source="test", client_id=f"c{s % 3}", seq=s // 3)
        for s in range(30)
    ]
    futures = [await writer.submit(i) for i in items]
    dup = Submission(frame=frame(0), n_records=10, source="test", client_id="c0", seq=0)
    futures.append(await writer.submit(dup))
    task = asyncio.create_task(writer.run())
    results = [await f for f in futures]
    await writer.stop()
    await task
    assert results == ["stored"] * 30 + ["duplicate"]
    rows = await store.fetchall("SELECT client_id, MAX(seq), COUNT(*) FROM inbox GROUP BY 1")
    assert sorted(rows) == [("c0", 9, 10), ("c1", 9, 10), ("c2", 9, 10)]
    assert (await store.counters())["records_stored"] == 300
    await store.close()


async def test_store_refuses_a_newer_schema(tmp_path: Path) -> None:
    """A store written by a newer daemon is not silently downgraded."""
    path = tmp_path / "s.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version=999")
    conn.close()
    from logmarketd.errors import StartupError

    with pytest.raises(StartupError, match="newer than this daemon"):
        await Store.open(path)


async def test_a_store_from_before_autoincrement_never_reuses_row_ids(tmp_path: Path) -> None:
    """A store written by the old schema (inbox emptied, the pipeline's position at row 7)
    migrates so that the next inbox row lies above every recorded position."""
    from logmarketd.store.db import _split_sql
    from logmarketd.store.schema import MIGRATIONS

    path = tmp_path / "old.db"
    with sqlite3.connect(path, isolation_level=None) as conn:
        for i, script in enumerate(MIGRATIONS[:6]):
            for statement in _split_sql(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version={i + 1}")
        conn.execute('INSERT INTO window_cursors VALUES (\'["a", "runtime", null]\', 7, 0)')
    conn.close()
    store = await Store.open(path)
    try:
        async with store.transaction() as db:
            await db.execute(
                "INSERT INTO inbox (received, source, n_records, frame) VALUES (0, 'runtime', 1,"
                " '{}')"
            )
        row = await store.fetchone("SELECT MAX(id) FROM inbox")
        assert row is not None and row[0] == 8
        secure = await (await store.db.execute("PRAGMA secure_delete")).fetchone()
        assert secure is not None and secure[0] == 1  # deleted records do not linger on disk
    finally:
        await store.close()

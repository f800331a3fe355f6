"""Stored template examples never keep PII: IPs and e-mail addresses become the redactor's
keyed placeholders in a window's digest, whether or not ``--redact-pii`` is on; the log text
handed on for analysis keeps them (analysis needs them)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from logmarketd.ingest.inbox import InboxWriter, Submission
from logmarketd.ingest.redact import Redactor
from logmarketd.metrics import Metrics
from logmarketd.store.db import Store, apply_writes
from logmarketd.transform.windows import ClosedWindow, Pipeline

KEY = b"installation-key-0123456789abcdef"
RECORDS = [
    {"message": "login failed for bob@example.com from 203.0.113.7"},
    {"message": "login failed for eve@example.org from 198.51.100.9"},
    {"message": "login failed for amy@example.net from 2001:db8::8a2e:370:7334", "eof": True},
]


async def window_digest(tmp_path: Path, **pipeline: Any) -> tuple[list[Any], str]:
    """The digest stored for one window of RECORDS, and the content analysis was given."""
    store = await Store.open(tmp_path / "s.db")
    inbox = InboxWriter(store, Metrics())
    await inbox.start()
    writer = asyncio.create_task(inbox.run())
    contents: list[str] = []

    async def sink(window: ClosedWindow) -> None:
        contents.append(window.content)
        async with store.transaction() as tx:
            await apply_writes(tx, window.writes)

    try:
        frame = json.dumps({"type": "batch", "seq": 0, "records": RECORDS})
        await (await inbox.submit(Submission(frame=frame.encode(), n_records=3, source="runtime",
                                             client_id="c", seq=0, sub_pkp_id="pia")))  # fmt: skip
        p = Pipeline(store, inbox, sink, poll=0.01, **pipeline)
        run = asyncio.create_task(p.run())
        for _ in range(1000):
            if p.analysed:
                break
            await asyncio.sleep(0.01)
        p.stop()
        await run
        row = await store.fetchone("SELECT digest FROM windows")
        assert row is not None
        return json.loads(row[0]), contents[0]
    finally:
        await inbox.stop()
        await writer
        await store.close()


PII = ("bob@example.com", "eve@example.org", "203.0.113.7", "198.51.100.9", "2001:db8")


async def test_examples_are_masked_by_default(tmp_path: Path) -> None:
    digest, content = await window_digest(tmp_path)
    examples = json.dumps([e["examples"] for e in digest])
    assert digest[0]["count"] == 3 and digest[0]["examples"], digest
    for value in PII:
        assert value not in examples, examples
        assert value in content  # the text analysed is the record as stored
    assert "<REDACTED:email:" in examples and "<REDACTED:ipv4:" in examples


async def test_examples_take_the_installation_keys_placeholders(tmp_path: Path) -> None:
    redactor = Redactor(KEY)  # --redact-pii off
    digest, _ = await window_digest(tmp_path, redactor=redactor)
    examples = [v for e in digest for values in e["examples"] for v in values]
    assert redactor.with_pii().placeholder("ipv4", "203.0.113.7") in " ".join(examples)
    assert not any(value in " ".join(examples) for value in PII), examples

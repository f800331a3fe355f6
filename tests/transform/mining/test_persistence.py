"""Persistence as rows: restart stability, idempotent saves, sqlite and its in-memory twin."""

from __future__ import annotations

from pathlib import Path

import pytest
from logmarketd.transform.mining import Miner, TemplateRow, template_id
from logmarketd.transform.mining.persistence import MemoryTemplateStore, SqliteTemplateStore

LINES = [
    "Accepted password for root from 10.0.0.1 port 22 ssh2",
    "Accepted password for bob from 10.0.0.2 port 22 ssh2",
    "Accepted password for eve from 10.0.0.3 port 22 ssh2",
    "Accepted password for amy from 10.0.0.5 port 22 ssh2",
    "Connection closed by 10.0.0.9 [preauth]",
    "Received disconnect from 10.0.0.4: 11: Bye Bye [preauth]",
    "session opened for user root by (uid=0)",
]
LATER = [
    "Accepted password for ann from 10.0.0.7 port 2200 ssh2",
    "Connection closed by 10.9.9.9 [preauth]",
    "session opened for user root by (uid=1000)",
]


@pytest.fixture(params=["memory", "sqlite"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> MemoryTemplateStore | SqliteTemplateStore:
    """Both store implementations, so the twin is held to the real one's behaviour."""
    if request.param == "memory":
        return MemoryTemplateStore()
    return SqliteTemplateStore(tmp_path / "templates.db")


def test_ids_are_stable_across_a_restart(store: MemoryTemplateStore | SqliteTemplateStore) -> None:
    """A miner rebuilt from saved rows gives later lines the ids an unbroken miner gives."""
    unbroken = Miner()
    for line in LINES:
        unbroken.add(line, 1.0)
    expected = [unbroken.add(line, 2.0).template_id for line in LATER]

    before = Miner()
    for line in LINES:
        before.add(line, 1.0)
    store.save(before.export_rows())
    after = Miner.from_rows(store.load())
    got = [after.add(line, 2.0) for line in LATER]
    assert [m.template_id for m in got] == expected
    assert all(m.event == "seen" for m in got)
    assert sorted(r.template for r in after.templates()) == sorted(
        r.template for r in before.templates()
    )


def test_save_is_idempotent_and_exports_only_changes(
    store: MemoryTemplateStore | SqliteTemplateStore,
) -> None:
    """Saving the same rows twice changes nothing; a second export has only what changed."""
    m = Miner()
    for line in LINES:
        m.add(line, 1.0)
    rows = m.export_rows()
    store.save(rows)
    store.save(rows)
    assert sorted(store.load(), key=lambda r: r.template_id) == sorted(
        rows, key=lambda r: r.template_id
    )
    assert m.export_rows() == []
    m.add(LINES[4], 5.0)
    (changed,) = m.export_rows()
    assert changed.template == "Connection closed by <*> [preauth]"
    assert (changed.count, changed.last_seen) == (2, 5.0)


def test_generalised_template_keeps_its_old_id_as_superseded(
    store: MemoryTemplateStore | SqliteTemplateStore,
) -> None:
    """The id a template had before generalisation is stored, pointing to its successor."""
    m = Miner()
    for line in LINES[:4]:
        m.add(line, 1.0)
    store.save(m.export_rows())
    rows = {r.template_id: r for r in store.load()}
    live = [r for r in rows.values() if r.superseded_by is None]
    assert [r.template for r in live] == ["Accepted password for <*> from <*> port <*> ssh2"]
    old = [r for r in rows.values() if r.superseded_by is not None]
    assert old and all(r.superseded_by == live[0].template_id for r in old)
    assert store.contains(live[0].template_id)
    assert not store.contains("0" * 16)


def test_known_hook_makes_stored_templates_not_new(
    store: MemoryTemplateStore | SqliteTemplateStore,
) -> None:
    """With the store as ``known`` hook, a template already in the store is not new."""
    first = Miner()
    store.save([TemplateRow(first.add(LINES[4], 1.0).template_id, "x", 1, 1.0, 1.0)])
    again = Miner(known=store.contains).add(LINES[4], 2.0)
    assert (again.event, again.is_new_template) == ("new", False)


def test_a_template_stored_with_older_masking_maps_to_its_new_id(
    store: MemoryTemplateStore | SqliteTemplateStore,
) -> None:
    """A row whose text older masking wrote (``logname=`` kept, now ``logname=<*>``) is read
    in its current form: its old id is superseded by the new one, which the next lines get
    as a known template, and a restart after that changes nothing more."""
    old_text = "authentication failure; logname= uid=<*> rhost=<*>"
    old = TemplateRow(template_id(old_text), old_text, 5, 1.0, 2.0)
    store.save([old])
    miner = Miner.from_rows(store.load())
    rows = {r.template_id: r for r in miner.export_rows()}
    new_id = template_id("authentication failure; logname=<*> uid=<*> rhost=<*>")
    assert rows[old.template_id].superseded_by == new_id
    assert rows[new_id].count == 5 and rows[new_id].superseded_by is None
    store.save(rows.values())
    match = miner.add("authentication failure; logname= uid=0 rhost=10.0.0.1", 3.0)
    assert (match.template_id, match.event) == (new_id, "seen")
    again = Miner.from_rows(store.load())
    assert again.export_rows() == []
    assert again.add("authentication failure; logname=x uid=0 rhost=h", 4.0).template_id == new_id


def test_a_template_stored_before_names_were_kept_keeps_taking_its_lines() -> None:
    """``ssh<*>`` stored by an earlier version still takes ``ssh2`` lines under its own id
    (a kept name fits the stored slot): no new template, no new id after the upgrade."""
    text = "Accepted password for <*> from <*> port <*> ssh<*>"
    miner = Miner.from_rows([TemplateRow(template_id(text), text, 9, 1.0, 2.0)])
    assert miner.export_rows() == []
    match = miner.add("Accepted password for ann from 10.0.0.7 port 2200 ssh2", 3.0)
    assert (match.template_id, match.event) == (template_id(text), "seen")

"""The daemon's pipeline mines raw lines as ``logmarket templates --log-format`` mines their
messages: the header is cut before mining. Loghub-2k's 12 systems go through the real
pipeline (store, inbox, windows of 500 records) as a tailer would send them, one raw line a
record; each line's template is read from the windows it closed in and followed through the
store's ``superseded_by`` links to its last form."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest

from tests.bench.loghub import DATA, FORMATS, grouping_accuracy, load_system, ours
from tests.transform.pipeline import run_windows


def _final(db: Path, ids: list[str]) -> list[str]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        nxt = dict(conn.execute("SELECT template_id, superseded_by FROM templates"
                                " WHERE superseded_by IS NOT NULL").fetchall())  # fmt: skip
    out = []
    for tid in ids:
        for _ in range(len(nxt) + 1):
            if tid not in nxt:
                break
            tid = nxt[tid]
        out.append(tid)
    return out


@pytest.mark.parametrize("name", list(FORMATS))
async def test_raw_lines_through_the_pipeline_group_as_cut_messages(
    name: str, tmp_path: Path
) -> None:
    """Grouping accuracy of raw lines through the pipeline is within 0.02 of mining the
    messages cut with the system's Loghub format."""
    raw = (DATA / name / f"{name}_2k.log").read_text(encoding="utf-8").splitlines()
    contents, truth = load_system(name)
    windows = await run_windows(
        tmp_path / "s.db", [{"message": line} for line in raw], max_records=500
    )
    ids = [tid for w in windows for tid in w.line_templates]
    assert len(ids) == len(raw)
    piped = grouping_accuracy(_final(tmp_path / "s.db", ids), truth)
    cut = grouping_accuracy(ours(contents), truth)
    print(f"{name}: pipeline GA {piped:.3f}, --log-format GA {cut:.3f}")
    assert piped >= cut - 0.02, (name, piped, cut)

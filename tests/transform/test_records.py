"""What the agents are given for a record: its level, logger and message, whatever is there."""

from __future__ import annotations

from pathlib import Path

import pytest
from logmarketd.transform.windows import render_record

from tests.transform.pipeline import run_windows


@pytest.mark.parametrize(
    ("record", "text"),
    [
        ({"message": "disk full", "level": "ERROR"}, "ERROR disk full"),
        ({"message": "disk full", "logger": "fs"}, "fs: disk full"),
        ({"message": "disk full", "level": "ERROR", "logger": "fs"}, "- ERROR fs: disk full"),
        (
            {"message": "disk full", "level": "ERROR", "logger": "fs", "ts": 0},
            "1970-01-01 00:00:00,000 ERROR fs: disk full",
        ),
        (
            {"message": "disk full", "level": "ERROR", "ts": 0},
            "1970-01-01 00:00:00,000 ERROR disk full",
        ),
        (
            {"message": "Dec 10 06:55:46 LabSZ sshd[24200]: x"},
            "Dec 10 06:55:46 LabSZ sshd[24200]: x",
        ),
    ],
)
def test_a_record_keeps_each_field_it_has(record: dict[str, object], text: str) -> None:
    assert render_record(record) == text


async def test_the_socat_record_reaches_the_agents_with_its_level(tmp_path: Path) -> None:
    """The README's hand-written record: its level is part of the text analysed."""
    record = {"type": "record", "message": "disk full", "level": "ERROR", "eof": True}
    windows = await run_windows(tmp_path / "s.db", [record])
    assert [w.content for w in windows] == ["ERROR disk full"]

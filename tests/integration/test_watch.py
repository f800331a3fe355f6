"""`logmarketd --watch DIR`: the daemon tails a directory itself, exactly once across a
restart (the checkpoint lives in the state directory)."""

from __future__ import annotations

import collections
from pathlib import Path

from tests.conftest import DaemonProcess, stored_records, wait_for


def test_daemon_watches_a_directory_and_resumes_after_restart(short_tmp: Path) -> None:
    """Lines written before and after a restart arrive once each, with their source rule."""
    logs = short_tmp / "logs"
    logs.mkdir()
    build = logs / "build.log"
    build.write_text("".join(f"step {i} ok\n" for i in range(100)))
    d = DaemonProcess(short_tmp, "--watch", str(logs), "--watch-from-beginning",
                      "--watch-rules", "*build*=build,ci-bot")  # fmt: skip
    d.start()
    try:
        assert wait_for(lambda: len(stored_records(d.db)) == 100, 30)
        d.stop()
        with build.open("a") as f:
            f.writelines(f"step {i} ok\n" for i in range(100, 150))
        d.start()
        assert wait_for(lambda: len(stored_records(d.db)) >= 150, 30)
        wait_for(lambda: False, 1.0)  # room for a duplicate to show up
    finally:
        d.stop()
    records = stored_records(d.db)
    counts = collections.Counter(r["message"] for r in records)
    assert sorted(counts) == sorted(f"step {i} ok" for i in range(150))
    assert set(counts.values()) == {1}
    sources = {r.get("source") for r in records}
    assert sources == {"build"} and {r.get("subPKPId") for r in records} == {"ci-bot"}

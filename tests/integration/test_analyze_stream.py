"""``logmarket analyze`` of a long log: read and analysed piece by piece, so its memory stays
bounded whatever the log's size, with progress through the analysis on a terminal; the
pieces' findings are merged into the one analysis of the log."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CORPUS = REPO / "tests" / "corpus" / "logs"


@pytest.fixture(scope="module")
def long_log(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, int]:
    """The corpus's logs as one (``one``), and ``copies`` of it in a row as a long log."""
    blob = b"".join(p.read_bytes() for p in sorted(CORPUS.glob("*.log")))
    root = tmp_path_factory.mktemp("long")
    one, long = root / "one.log", root / "long.log"
    one.write_bytes(blob)
    copies = 20 * 1024 * 1024 // len(blob) + 1
    with open(long, "wb") as out:
        for _ in range(copies):
            out.write(blob)
    return one, long, copies


def _analyze(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "logmarket.cli", "analyze", str(path),
                           "--source", "runtime", *args],
                          capture_output=True, text=True, timeout=300, check=False)  # fmt: skip


def test_memory_stays_bounded_on_a_long_log(long_log: tuple[Path, Path, int]) -> None:
    """Peak RSS of the whole command on a 20 MB log (it was 380 MB when the log was read
    and analysed whole; memory grew with the log, ~18 bytes per byte of log)."""
    _, long, _ = long_log
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "logmarket.cli", "analyze",
         str(long), "--source", "runtime"],
        capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    peak_mib = int(out.stdout.strip()) / 1024
    assert peak_mib < 250, f"peak RSS {peak_mib:.0f} MiB"


def test_findings_of_every_piece_are_counted(long_log: tuple[Path, Path, int]) -> None:
    one, long, copies = long_log
    single = json.loads(_analyze(one, "--json").stdout)["aiInsights"]
    whole = json.loads(_analyze(long, "--json").stdout)["aiInsights"]
    for field in ("errorPatterns", "securityConcerns"):
        counts = {f["fingerprint"]: f["count"] for f in whole[field]}
        assert {f["fingerprint"] for f in single[field]} <= counts.keys(), "none is lost"
        # occurrences add up across pieces (a finding reported once per log counts once a
        # piece, as the daemon's windows count it)
        scaled = [f for f in single[field] if counts[f["fingerprint"]] >= f["count"] * copies]
        assert len(scaled) * 2 >= len(single[field]), (field, counts)


def test_progress_runs_through_the_analysis_on_a_terminal(
    long_log: tuple[Path, Path, int],
) -> None:
    _, long, _ = long_log
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "logmarket.cli", "analyze", str(long), "--source", "runtime"],
            stdout=subprocess.DEVNULL, stderr=follower,
        )  # fmt: skip
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(300) == 0
    finally:
        os.close(leader)
    updates = [u for u in seen.decode(errors="replace").split("\r") if "analysing" in u]
    shares = {u.rsplit("]", 1)[-1].strip() for u in updates}
    partial = {s for s in shares if s.endswith("%") and s != "100%"}
    assert len(partial) >= 3, updates

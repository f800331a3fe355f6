"""Benchmark of the rule engine: lines per second on a mixed 1M-line log, and the time to
analyse 100 typical logs in one process. Each figure is printed next to a peer measured in the
same run on the same input: one precompiled "error|exception|fail" regex searched over every
line (the cheapest possible line-by-line detector), so the ratio shows what the full engine
costs over a plain grep.

Run: ``.venv/bin/python tests/bench/agents.py [--lines N]``
"""

from __future__ import annotations

import argparse
import re
import subprocess
import tempfile
import time
from pathlib import Path

from logmarketd.analysis.analyse import inspect_log

from tests.bench.loghub import DATA

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LOGHUB = DATA
_GREP = re.compile(r"error|exception|fail", re.I)


def _samples() -> list[tuple[str, str]]:
    """(source, text) of every corpus log, and the Loghub 2k logs when present."""
    import json

    out = []
    for label in sorted((CORPUS / "labels").glob("*.json")):
        log = CORPUS / "logs" / f"{label.stem}.log"
        if log.exists():
            out.append((json.loads(label.read_text())["source"], log.read_text("utf-8", "replace")))
    if LOGHUB.exists():
        for p in sorted(LOGHUB.glob("*/*_2k.log")):
            out.append(("runtime", p.read_text("utf-8", "replace")))
    return out


def mixed_log(n_lines: int) -> str:
    """A runtime log of ``n_lines`` made by cycling through all sample logs (mixed formats)."""
    pool: list[str] = []
    for _, text in _samples():
        pool.extend(text.splitlines())
    reps = n_lines // len(pool) + 1
    return "\n".join((pool * reps)[:n_lines]) + "\n"


def _grep(text: str) -> int:
    return sum(1 for line in text.split("\n") if _GREP.search(line))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=1_000_000)
    args = ap.parse_args()

    text = mixed_log(args.lines)
    t0 = time.perf_counter()
    report = inspect_log(text, "runtime").report()
    engine = time.perf_counter() - t0
    t0 = time.perf_counter()
    hits = _grep(text)
    grep = time.perf_counter() - t0
    print(
        f"mixed log: {args.lines:,} lines, {len(text) / 1e6:.1f} MB, {len(report.findings)} findings"
    )
    print(
        f"  rule engine (4 agents, runtime): {engine:6.2f} s  {args.lines / engine:>12,.0f} lines/s"
    )
    print(
        f"  peer: one-regex grep           : {grep:6.2f} s  {args.lines / grep:>12,.0f} lines/s  ({hits:,} hits)"
    )
    print(f"  engine / grep time ratio: {engine / grep:.1f}x")
    with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
        f.write(text)
        f.flush()
        t0 = time.perf_counter()
        out = subprocess.run(
            ["grep", "-c", "-i", "-E", "error|exception|fail", f.name],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        gnu = time.perf_counter() - t0
    print(
        f"  peer: GNU grep -ciE (process)  : {gnu:6.2f} s  {args.lines / gnu:>12,.0f} lines/s  ({int(out.stdout or 0):,} hits)"
    )

    samples = _samples()
    logs = [samples[i % len(samples)] for i in range(100)]
    n_lines = sum(t.count("\n") for _, t in logs)
    t0 = time.perf_counter()
    for source, t in logs:
        inspect_log(t, source).report()
    many = time.perf_counter() - t0
    t0 = time.perf_counter()
    for _, t in logs:
        _grep(t)
    many_grep = time.perf_counter() - t0
    print(
        f"100 typical logs ({n_lines:,} lines): engine {many * 1000:.0f} ms, peer grep {many_grep * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()

"""Benchmark: a mixed 300,000-line stream, in-process and as whole CLI runs, plus a flood.

Run: ``python -m tests.bench.miner_stream [--lines N] [--flood N]``.

1. The stream mixes the messages of all Loghub-2k systems, drawn with their frequencies,
   numbers redrawn at the same width (see :func:`tests.bench.loghub.repetition_stream`).
   It is mined in this process by our miner and by drain3 (default settings).
2. The same stream, written to a file, is run through ``logmarket templates FILE
   --log-format '<Content>' --json`` and through an equivalent drain3 script (read lines,
   mine, print one JSON object per line with its final template): whole processes,
   wall-clock time including interpreter start and imports.
3. A flood of unique lines (every line a new event) runs in a child process with a
   10,000-template cap; its peak RSS is printed beside the RSS of a 10,000-line flood to
   show that memory stays bounded.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from logmarketd.transform.mining import Miner

from tests.bench.loghub import DATA, FORMATS, drain3_labeller, load_system, repetition_stream

DRAIN3_SCRIPT = """
import json, sys
from drain3 import TemplateMiner
from drain3.template_miner_config import TemplateMinerConfig
config = TemplateMinerConfig()
config.profiling_enabled = False
tm = TemplateMiner(config=config)
with open(sys.argv[1], encoding="utf-8") as f:
    ids = [tm.add_log_message(line.rstrip("\\n"))["cluster_id"] for line in f]
final = {c.cluster_id: c.get_template() for c in tm.drain.clusters}
out = sys.stdout
for n, i in enumerate(ids, 1):
    out.write(json.dumps({"line": n, "templateId": str(i), "template": final[i]}) + "\\n")
"""

FLOOD_SCRIPT = """
import random, sys, time
from logmarketd.transform.mining import Miner
n, cap = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(1)
letters = "abcdefghijklmnopqrstuvwxyz"
m = Miner(max_templates=cap)
start = time.perf_counter()
for i in range(n):
    words = ["".join(rng.choice(letters) for _ in range(6)) for _ in range(4)]
    m.add(" ".join(words), float(i))
    if i % 50_000 == 0:
        m.export_rows()  # what the pipeline does: evicted rows leave memory with the export
elapsed = time.perf_counter() - start
# VmHWM, not ru_maxrss: after fork+exec ru_maxrss still holds the parent's peak.
with open("/proc/self/status") as f:
    rss = next(int(l.split()[1]) for l in f if l.startswith("VmHWM")) / 1024
print(f"{n} {len(m)} {m.evicted} {elapsed:.1f} {rss:.0f}")
"""


def mixed_stream(n: int, data: Path = DATA) -> list[str]:
    """``n`` messages from all systems, frequencies kept, numbers redrawn."""
    contents: list[str] = []
    for name in FORMATS:
        contents.extend(load_system(name, data)[0])
    return repetition_stream(contents, n, seed=11)


def run_cli(argv: list[str]) -> tuple[float, int]:
    """Wall-clock seconds of one whole process, and the number of stdout lines."""
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=True)
    elapsed = time.perf_counter() - start
    lines = proc.stdout.count(b"\n")
    json.loads(proc.stdout.split(b"\n", 1)[0])  # the output is JSON lines
    return elapsed, lines


def flood(n: int, cap: int) -> list[str]:
    """Run the flood in a child process: [lines, live templates, evicted, s, RSS MB]."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    out = subprocess.run(
        [sys.executable, "-c", FLOOD_SCRIPT, str(n), str(cap)],
        capture_output=True,
        check=True,
        env=env,
        text=True,
    )
    return out.stdout.split()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--flood", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    stream = mixed_stream(args.lines)
    print(f"mixed stream: {len(stream):,} messages from {len(FORMATS)} systems")

    start = time.perf_counter()
    ours = Miner().label(stream)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = drain3_labeller(masking=False)(stream)
    t_drain = time.perf_counter() - start
    print("in-process:")
    print(
        f"  ours    {len(stream) / t_ours:>10,.0f} lines/s  {len({t for t, _ in ours}):>6} templates"
    )
    print(f"  drain3  {len(stream) / t_drain:>10,.0f} lines/s  {len(set(theirs)):>6} templates")
    print(f"  ratio   x{t_drain / t_ours:.1f}")

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stream.log"
        path.write_text("\n".join(stream) + "\n", encoding="utf-8")
        cli = [sys.executable, "-m", "logmarket.cli", "templates", str(path)]
        c_ours, n_ours = run_cli([*cli, "--log-format", "<Content>", "--json"])
        c_drain, n_drain = run_cli([sys.executable, "-c", DRAIN3_SCRIPT, str(path)])
    print("whole CLI runs (wall clock, JSON lines to a pipe):")
    print(
        f"  logmarket templates  {c_ours:6.2f} s  {len(stream) / c_ours:>10,.0f} lines/s  ({n_ours} lines out)"
    )
    print(
        f"  drain3 script        {c_drain:6.2f} s  {len(stream) / c_drain:>10,.0f} lines/s  ({n_drain} lines out)"
    )
    print(f"  ratio   x{c_drain / c_ours:.1f}")

    print("flood of unique lines (4 random words each), cap 10,000 templates, child process:")
    for n in (10_000, args.flood):
        lines, live, evicted, secs, rss = flood(n, 10_000)
        print(
            f"  {int(lines):>9,} lines  {int(live):>6} live  {int(evicted):>9,} evicted"
            f"  {secs:>6} s  peak RSS {rss} MB"
        )
    return 0


if __name__ == "__main__":
    random.seed(0)
    raise SystemExit(main())

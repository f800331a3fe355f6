"""Benchmark: what one ``logger.info`` call costs the application, per handler.

Run: ``python -m tests.bench.handler [N]``. Each configuration runs in a fresh process:

* ``NullHandler``               — the floor: logging's own cost
* ``QueueHandler``              — stdlib QueueHandler + QueueListener → StreamHandler(/dev/null)
* ``logmarket (daemon up)``     — ``logmarket.Handler`` with a real daemon on the socket
* ``logmarket (daemon down)``   — the same with no daemon (queue fills, then drops)

Caller CPU is ``time.thread_time()`` of the logging thread over N calls (the background
threads' work is not the caller's); latency is per call (``perf_counter_ns``), in a second
pass. Memory: RSS growth over the N calls, for the daemon-down case beside a QueueHandler
whose listener is stalled (the stdlib queue is unbounded). Figures, not pass/fail.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tests.conftest import DaemonProcess

CHILD = r"""
import gc, json, logging, logging.handlers, os, queue, sys, time
from array import array

mode, n, sock, warm, more = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])

def rss_kib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 1024

logger = logging.getLogger("bench")
logger.propagate = False
logger.setLevel(logging.INFO)
listener = None
if mode == "null":
    logger.addHandler(logging.NullHandler())
elif mode in ("queue", "queue-stalled"):
    q = queue.Queue(-1)
    logger.addHandler(logging.handlers.QueueHandler(q))
    listener = logging.handlers.QueueListener(q, logging.StreamHandler(open(os.devnull, "w")))
    if mode == "queue":
        listener.start()
else:
    import logmarket
    handler = logmarket.Handler(socket_path=sock, flush_timeout=30)
    logger.addHandler(handler)

for i in range(warm):  # warm up: thread started, connection open, caches hot
    logger.info("request %d handled in %s ms", i, 12.5)
if mode.startswith("logmarket") and mode.endswith("up"):
    handler.flush(30)

rss0 = rss_kib()
t0 = time.thread_time()
for i in range(n):
    logger.info("request %d handled in %s ms", i, 12.5)
cpu = time.thread_time() - t0
rss1 = rss_kib()

lat = array("q", bytes(8 * n))
clock = time.perf_counter_ns
for i in range(n):
    s = clock()
    logger.info("request %d handled in %s ms", i, 12.5)
    lat[i] = clock() - s
lat = sorted(lat)
def pct(p):
    return lat[min(n - 1, int(p * n))] / 1000.0

out = {"cpu_us": cpu / n * 1e6, "p50": pct(0.5), "p99": pct(0.99), "p999": pct(0.999),
       "max": lat[-1] / 1000.0, "rss_growth_mib": (rss1 - rss0) / 1024}
if mode.endswith("down") or mode == "queue-stalled":
    # Memory once the queue is full (ours) / keeps growing (stdlib): `more` records more.
    r0 = rss_kib()
    for i in range(more):
        logger.info("request %d handled in %s ms", i, 12.5)
    out["rss_more_mib"] = (rss_kib() - r0) / 1024
if mode.startswith("logmarket"):
    out["dropped"] = handler.dropped
    if mode.endswith("up"):
        out["flushed"] = handler.flush(60)
if listener is not None and mode == "queue":
    listener.stop()
print(json.dumps(out))
os._exit(0)
"""

MODES = [
    ("null", "NullHandler"),
    ("queue", "stdlib QueueHandler"),
    ("logmarket-up", "logmarket (daemon up)"),
    ("logmarket-down", "logmarket (daemon down)"),
    ("queue-stalled", "QueueHandler, listener stalled"),
]


def run(n: int = 200_000, warm: int = 20_000, more: int = 500_000) -> dict[str, dict[str, float]]:
    root = Path(tempfile.mkdtemp(prefix="lmb", dir="/tmp"))
    daemon = DaemonProcess(root).start()
    results: dict[str, dict[str, float]] = {}
    try:
        for mode, _ in MODES:
            sock = str(daemon.socket) if mode.endswith("up") else str(root / "absent.sock")
            out = subprocess.run(
                [sys.executable, "-c", CHILD, mode, str(n), sock, str(warm), str(more)],
                capture_output=True, text=True, check=True, timeout=600,
            )  # fmt: skip
            results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
    finally:
        daemon.stop()
    return results


def report(results: dict[str, dict[str, float]], n: int, more: int = 500_000) -> str:
    base = results["queue"]
    lines = [
        f"logger.info cost per call, N={n:,} (ratios are to stdlib QueueHandler, same run)",
        f"{'handler':32} {'CPU µs':>8} {'vs QH':>6} {'p50 µs':>8} {'p99 µs':>8} "
        f"{'p99.9 µs':>9} {'vs QH':>6} {'max µs':>9} {'RSS +MiB':>9}",
    ]
    for mode, label in MODES:
        r = results[mode]
        lines.append(
            f"{label:32} {r['cpu_us']:8.2f} {r['cpu_us'] / base['cpu_us']:6.2f} {r['p50']:8.2f} "
            f"{r['p99']:8.2f} {r['p999']:9.1f} {r['p999'] / base['p999']:6.2f} {r['max']:9.0f} "
            f"{r['rss_growth_mib']:9.1f}"
        )
    down = results["logmarket-down"]
    stalled = results["queue-stalled"]
    lines.append(
        f"collector down, {more:,} more records: logmarket RSS {down['rss_more_mib']:+.1f} MiB "
        f"(bounded queue, {down.get('dropped', 0):,.0f} dropped and counted); stdlib "
        f"QueueHandler {stalled['rss_more_mib']:+.1f} MiB (unbounded). "
        f"Daemon up: everything flushed = {results['logmarket-up'].get('flushed')}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    print(report(run(count), count))

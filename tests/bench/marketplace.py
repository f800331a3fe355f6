"""Benchmark: the marketplace API's latency and payment throughput, against a real daemon.

Run: ``python -m tests.bench.marketplace [N]``. Prints p50/p99 of ``POST /analyze`` (one
client, and 8 concurrent), of ``POST /batch-analyze`` with 100 logs (the seed's "< 30 s"
for 100 logs is the reference), and payments per second through ``POST /pay`` (each payment
is one SQLite transaction with its ledger entries, game state and events, fsynced).
"""

from __future__ import annotations

import concurrent.futures
import statistics
import sys
import tempfile
import time
from pathlib import Path

from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"


def _pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))] * 1000


def run(n: int = 200) -> list[tuple[str, str]]:
    root = Path(tempfile.mkdtemp(prefix="lmm", dir="/tmp"))
    d = DaemonProcess(root, "--max-logs-per-hour", "1000000", "--requests-per-minute", "1000000",
                      "--auto-pay-threshold", "100", marketplace=True).start()  # fmt: skip
    token = d.admin_token
    rows: list[tuple[str, str]] = []
    try:

        def analyze(i: int) -> tuple[float, str]:
            _, source, content = SAMPLES[i % len(SAMPLES)]
            body = {"source": source, "logContent": f"{content}\nrun {i}", "subPKPId": f"s{i % 20}"}
            t = time.perf_counter()
            status, a = http("POST", d.url + API + "/analyze", body, token=token)
            assert status == 200, a
            return time.perf_counter() - t, a["id"] if a["paymentAmount"] > 0 else ""

        seq = [analyze(i) for i in range(n)]
        lat = [t for t, _ in seq]
        rows.append(
            ("analyze, 1 client: p50 / p99 ms", f"{_pct(lat, 0.5):.1f} / {_pct(lat, 0.99):.1f}")
        )
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            conc = list(pool.map(analyze, range(n, 2 * n)))
        wall = time.perf_counter() - started
        lat = [t for t, _ in conc]
        rows.append(
            ("analyze, 8 clients: p50 / p99 ms", f"{_pct(lat, 0.5):.1f} / {_pct(lat, 0.99):.1f}")
        )
        rows.append(("analyze, 8 clients: logs/s", f"{n / wall:.0f}"))

        batch_lat = []
        for b in range(5):
            logs = [{"source": s, "content": f"{c}\nbatch {b} item {i}"}
                    for i, (_, s, c) in enumerate(SAMPLES * 17)][:100]  # fmt: skip
            t = time.perf_counter()
            status, r = http("POST", d.url + API + "/batch-analyze",
                             {"subPKPId": "batcher", "logs": logs}, token=token, timeout=300)  # fmt: skip
            assert status == 200 and r["totalLogs"] == 100, r
            batch_lat.append(time.perf_counter() - t)
        rows.append(("batch-analyze 100 logs: p50 / max s (seed: < 30 s)",
                     f"{statistics.median(batch_lat):.2f} / {max(batch_lat):.2f}"))  # fmt: skip

        ids = [i for _, i in seq + conc if i]

        def pay(aid: str) -> float:
            t = time.perf_counter()
            status, tx = http("POST", d.url + API + f"/pay/{aid}", None, token=token)
            assert status == 200, tx
            return time.perf_counter() - t

        half = len(ids) // 2
        started = time.perf_counter()
        lat = [pay(a) for a in ids[:half]]
        rows.append(
            ("pay, 1 client: transactions/s", f"{half / (time.perf_counter() - started):.0f}")
        )
        rows.append(
            ("pay, 1 client: p50 / p99 ms", f"{_pct(lat, 0.5):.1f} / {_pct(lat, 0.99):.1f}")
        )
        started = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            list(pool.map(pay, ids[half:]))
        rows.append(("pay, 8 clients: transactions/s",
                     f"{(len(ids) - half) / (time.perf_counter() - started):.0f}"))  # fmt: skip
    finally:
        d.stop()
    return rows


def report(rows: list[tuple[str, str]]) -> str:
    width = max(len(k) for k, _ in rows)
    return "Marketplace API (real daemon, SQLite synchronous=FULL)\n" + "\n".join(
        f"{k:{width}}  {v}" for k, v in rows
    )


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))

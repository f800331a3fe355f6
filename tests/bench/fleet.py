"""Benchmark: analyses/s and payments/s of the marketplace on the embedded SQLite and on a
shared PostgreSQL with 1 and with 3 daemons, in the same run, on the same machine.

Run: ``python -m tests.bench.fleet [N]`` (N analyses per configuration, default 200). Needs
Debian's PostgreSQL server binaries (a throwaway cluster is made in /tmp, fsync off, so the
PostgreSQL rows measure the store's work, not this machine's disk; SQLite runs with its
default synchronous=FULL, as shipped). Eight HTTP clients at once, spread over the daemons
round-robin: ``POST /analyze`` (price, record; auto-pay off), then ``POST /pay`` of each
(payment, entries, balances, game, chain link, events, and the admin's settlement).
"""

from __future__ import annotations

import concurrent.futures
import shutil
import sys
import tempfile
import time
from pathlib import Path

from logmarketd.samples import SAMPLES

from tests.conftest import DaemonProcess, http
from tests.store.pgserver import running_postgres

API = "/npe/log-marketplace"
CLIENTS = 8
_LIMITS = ("--max-logs-per-hour", "1000000", "--requests-per-minute", "1000000",
           "--auto-pay-threshold", "100")  # fmt: skip


def _daemons(n: int, store: str | None) -> list[DaemonProcess]:
    roots = [Path(tempfile.mkdtemp(prefix=f"lmb{i}", dir="/tmp")) for i in range(n)]
    extra = ("--store", store) if store else ()
    daemons = []
    for i, root in enumerate(roots):
        if i:  # one signing key for the fleet
            (root / "state").mkdir(parents=True)
            shutil.copy(roots[0] / "state" / "ledger.key", root / "state" / "ledger.key")
        daemons.append(DaemonProcess(root, *extra, *_LIMITS, marketplace=True).start())
    return daemons


def _measure(daemons: list[DaemonProcess], n: int, tag: str) -> tuple[float, float]:
    """(analyses/s, payments/s) with CLIENTS clients over ``daemons``."""

    def analyze(i: int) -> str:
        d = daemons[i % len(daemons)]
        _, source, content = SAMPLES[i % len(SAMPLES)]
        body = {"source": source, "logContent": f"{content}\n{tag} run {i}",
                "subPKPId": f"s{i % 20}"}  # fmt: skip
        status, a = http("POST", d.url + API + "/analyze", body, token=d.admin_token)
        assert status == 200, a
        return str(a["id"]) if a["paymentAmount"] > 0 else ""

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        ids = [i for i in pool.map(analyze, range(n)) if i]
    analyses = n / (time.perf_counter() - started)

    def pay(job: tuple[int, str]) -> None:
        d = daemons[job[0] % len(daemons)]
        status, tx = http("POST", d.url + API + f"/pay/{job[1]}", None, token=d.admin_token)
        assert status == 200, tx

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(pay, enumerate(ids)))
    payments = len(ids) / (time.perf_counter() - started) if ids else 0.0
    return analyses, payments


def run(n: int = 200) -> list[tuple[str, float, float]]:
    rows: list[tuple[str, float, float]] = []
    configs: list[tuple[str, int, bool]] = [
        ("embedded SQLite, 1 daemon", 1, False),
        ("PostgreSQL, 1 daemon", 1, True),
        ("PostgreSQL, 3 daemons", 3, True),
    ]
    with running_postgres() as server:
        for name, count, shared in configs:
            daemons = _daemons(count, server.create_database() if shared else None)
            try:
                rows.append((name, *_measure(daemons, n, name.split(",")[0])))
            finally:
                for d in daemons:
                    d.stop()
                for d in daemons:
                    shutil.rmtree(d.root, ignore_errors=True)
    return rows


def report(rows: list[tuple[str, float, float]]) -> str:
    width = max(len(r[0]) for r in rows)
    lines = [f"Marketplace on each store ({CLIENTS} HTTP clients, real daemons)",
             f"{'':{width}}  analyses/s  payments/s"]  # fmt: skip
    lines += [f"{name:{width}}  {a:10.1f}  {p:10.1f}" for name, a, p in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 200)))

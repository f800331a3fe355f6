"""Benchmark: what an adversary earns from the marketplace with one Sub-PKP key, against the
real daemon at its DEFAULT market settings, beside what the shipped genuine samples earn.

Run: ``python -m tests.bench.adversary [LOGS_PER_CELL]`` (default 100). Each cell — one
strategy over one way in — gets a fresh daemon (an empty market) and one key made by
``logmarket keys create``, and sends ``LOGS_PER_CELL`` generated logs:

* ``fabricated``: six made-up lines that collect every bonus (an SQL injection answered 200,
  a path traversal, an OOM kill, a SIGSEGV, two "took 45000 ms" requests), IPs, ids,
  durations and timestamps redrawn for every log;
* ``copies``: one such log, sent again and again unchanged;
* ``invented names``: the fabricated log with new endpoint, file, process and request
  names every time (names are not masked, so each can mint new fingerprints);

over HTTP (``POST /batch-analyze`` with the key, 25 logs a request, well inside the default
requests per minute) and over the socket (the key in the hello, one stream per log closed by
an ``eof`` record, so each log is one analysed window).

Credited is what the Sub-PKP's account holds afterwards: ``balance`` of ``GET
/npe/log-marketplace/sub-pkp/{id}`` plus ``pending`` where the daemon has that field. The
extrapolated $/hour ($/day) is the first log's credit, once, plus the later logs' mean credit
times the logs an hour (a day) allows after it: the measured rate, bounded by
MAX_LOGS_PER_HOUR and by the daily payout cap, which the daemon enforces (a cell that reaches
the cap shows it in its credited column too). The peer row is the
shipped samples (``logmarketd.samples``) each submitted once, over HTTP with a key, to an
empty market. The configured per-Sub-PKP daily payout cap is printed with the day's
extrapolation as a share of it (no cap: no share).
"""

from __future__ import annotations

import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from logmarketd.samples import SAMPLES
from logmarketd.settings import Settings

from logmarket.shipper import Shipper
from tests.conftest import DaemonProcess, http, wait_for

API = "/npe/log-marketplace"
SUB = "adversary"
BATCH = 25
_CONSONANTS, _VOWELS = "ghjklmnprstvwz", "aiou"  # never hex, never a number: not masked

Generator = Callable[[random.Random, int], str]


def _ip(r: random.Random) -> str:
    return f"{r.randint(1, 223)}.{r.randint(0, 255)}.{r.randint(0, 255)}.{r.randint(1, 254)}"


def _word(r: random.Random) -> str:
    return "".join(r.choice(_CONSONANTS) + r.choice(_VOWELS) for _ in range(4))


def fabricated(r: random.Random, _: int = 0, names: tuple[str, ...] | None = None) -> str:
    """The six-line fabricated log; IPs, ids, durations and timestamps drawn from ``r``."""
    path, leaked, proc, app, req = names or ("search", "passwd", "java", "app", "request")
    ts = (f"2026-0{r.randint(1, 9)}-1{r.randint(0, 9)} "
          f"1{r.randint(0, 9)}:{r.randint(10, 59)}:{r.randint(10, 59)}")  # fmt: skip
    return "\n".join([
        f'{_ip(r)} - - [{ts}] "GET /{path}?q=1%27%20OR%20%271%27=%271 HTTP/1.1" 200 {r.randint(100, 9999)}',
        f'{_ip(r)} - - [{ts}] "GET /../../etc/{leaked} HTTP/1.1" 200 {r.randint(100, 999)}',
        f"{ts} kernel: Out of memory: Killed process {r.randint(1000, 99999)} ({proc})",
        f"{ts} {app}[{r.randint(100, 9999)}]: segfault at {r.randint(0, 2**32):x} error 4 (SIGSEGV)",
        f"{ts} INFO {req} req-{r.randint(1000, 99999)} took {r.randint(30000, 90000)} ms",
        f"{ts} INFO {req} req-{r.randint(1000, 99999)} took {r.randint(30000, 90000)} ms",
    ])  # fmt: skip


def copies(r: random.Random, _: int = 0) -> str:
    """The same fabricated log every time."""
    return fabricated(random.Random(0))


def invented_names(r: random.Random, _: int = 0) -> str:
    """The fabricated log with every name made up anew."""
    return fabricated(r, names=tuple(_word(r) for _ in range(5)))


STRATEGIES: list[tuple[str, Generator]] = [
    ("fabricated", fabricated),
    ("copies", copies),
    ("invented names", invented_names),
]


@dataclass(frozen=True, slots=True)
class Cell:
    strategy: str
    transport: str
    sent: int
    credited: Decimal  # balance + pending after the run
    first: Decimal  # credited by the first log alone
    seconds: float  # first send to the last log analysed
    refused: int = 0  # logs the API refused (429: over a limit)

    def earned(self, max_logs_per_hour: int, hours: int = 1, cap: Decimal | None = None) -> Decimal:
        """Extrapolated over ``hours`` (a day at most): the first log's credit (once), then the
        later logs' mean credit for every log the period allows at the measured rate, within
        MAX_LOGS_PER_HOUR and the daily payout cap (the daemon refuses what would cross it)."""
        bound = cap if cap is not None else Decimal("Infinity")
        return min(self._unbounded(max_logs_per_hour, hours), bound)

    def _unbounded(self, max_logs_per_hour: int, hours: int) -> Decimal:
        if self.sent <= 1:
            return self.first
        rate = min(Decimal(self.sent) / Decimal(max(self.seconds, 1e-6)) * 3600,
                   Decimal(max_logs_per_hour))  # fmt: skip
        later = (self.credited - self.first) / (self.sent - 1)
        return self.first + later * max(rate * hours - 1, Decimal(0))


def credited(d: DaemonProcess, key: str) -> Decimal:
    """What the account holds: its balance and, where the daemon reports it, its pending."""
    status, account = http("GET", f"{d.url}{API}/sub-pkp/{SUB}", token=key)
    assert status == 200, account
    return Decimal(str(account["balance"])) + Decimal(str(account.get("pending", 0)))


def analysed(d: DaemonProcess) -> int:
    with contextlib.closing(sqlite3.connect(d.db)) as conn:
        (n,) = conn.execute("SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = ?", (SUB,)).fetchone()
    return int(n)


def over_http(d: DaemonProcess, key: str, logs: list[str]) -> tuple[Decimal, int]:
    """The first log alone (its credit measured), then the rest in batches; (first, refused)."""
    refused = 0
    first = Decimal(0)
    for start, size in [(0, 1)] + [(i, BATCH) for i in range(1, len(logs), BATCH)]:
        body = {"logs": [{"source": "runtime", "content": c} for c in logs[start : start + size]]}
        status, answer = http("POST", d.url + API + "/batch-analyze", body, token=key, timeout=300)
        if status == 429:
            refused += len(body["logs"])
            continue
        assert status == 200, answer
        if start == 0:
            first = credited(d, key)
    return first, refused


def over_socket(d: DaemonProcess, key: str, logs: list[str]) -> tuple[Decimal, int]:
    """Each log one stream, its last line ``eof``; waits until every window is analysed."""
    shipper = Shipper(str(d.socket), {"source": "runtime", "key": key})
    shipper.connect()
    try:
        for i, content in enumerate(logs):
            lines = content.split("\n")
            records = [{"message": line, "stream": f"adv-{i}.log"} for line in lines]
            records[-1]["eof"] = True
            shipper.send([json.dumps(rec) for rec in records])
            while shipper.in_flight:
                shipper.poll_acks(1.0)
            if i == 0:
                assert wait_for(lambda: analysed(d) >= 1, 60), "the first window was not analysed"
                first = credited(d, key)
    finally:
        shipper.disconnect()
    assert wait_for(lambda: analysed(d) >= len(logs), 300), (analysed(d), len(logs))
    return first, 0


TRANSPORTS = [("HTTP", over_http), ("socket", over_socket)]


def fresh_market(root: Path) -> DaemonProcess:
    """The real daemon with its default market settings (marketplace on, nothing else set)."""
    return DaemonProcess(root, marketplace=True).start()


def run_cell(strategy: str, make: Generator, transport: str, n: int, seed: int) -> Cell:
    root = Path(tempfile.mkdtemp(prefix="lma", dir="/tmp"))
    d = fresh_market(root)
    try:
        key = d.make_key(SUB)
        r = random.Random(seed)
        logs = [make(r, i) for i in range(n)]
        send = dict(TRANSPORTS)[transport]
        started = time.perf_counter()
        first, refused = send(d, key, logs)
        seconds = time.perf_counter() - started
        return Cell(strategy, transport, n, credited(d, key), first, seconds, refused)
    finally:
        d.stop()


def genuine_samples() -> list[tuple[str, Decimal, Decimal]]:
    """Each shipped sample submitted once to an empty market: (name, priced, credited)."""
    d = fresh_market(Path(tempfile.mkdtemp(prefix="lma", dir="/tmp")))
    rows = []
    try:
        key = d.make_key(SUB)
        for name, source, content in SAMPLES:
            before = credited(d, key)
            status, a = http("POST", d.url + API + "/analyze",
                             {"source": source, "logContent": content}, token=key)  # fmt: skip
            assert status == 200, a
            rows.append((name, Decimal(str(a["paymentAmount"])), credited(d, key) - before))
    finally:
        d.stop()
    return rows


def run(n: int = 100, seed: int = 7) -> dict[str, Any]:
    settings = Settings()  # what the daemon reads too: defaults, unless the environment says
    cells = [
        run_cell(strategy, make, transport, n, seed)
        for strategy, make in STRATEGIES
        for transport, _ in TRANSPORTS
    ]
    return {
        "cells": cells,
        "samples": genuine_samples(),
        "max_logs_per_hour": settings.max_logs_per_hour,
        "daily_cap": settings.daily_payout_cap,
        "auto_pay_threshold": settings.auto_pay_threshold,
        "n": n,
    }


def report(results: dict[str, Any]) -> str:
    cap: Decimal | None = results["daily_cap"]
    per_hour_logs = results["max_logs_per_hour"]
    out = [
        f"Adversary vs genuine contributor: one Sub-PKP key, default market settings, "
        f"{results['n']} logs per cell, a fresh market per cell",
        f"MAX_LOGS_PER_HOUR {per_hour_logs}, AUTO_PAY_THRESHOLD {results['auto_pay_threshold']},"
        f" daily payout cap per Sub-PKP: {'none' if cap is None else f'${cap}'}",
        f"{'strategy':16} {'via':7} {'sent':>5} {'refused':>7} {'credited $':>11} "
        f"{'first $':>8} {'logs/s':>7} {'$/hour':>10} {'$/day (share of cap)':>24}",
    ]
    for c in results["cells"]:
        hour, day = c.earned(per_hour_logs, 1, cap), c.earned(per_hour_logs, 24, cap)
        share = f"{day:,.2f} " + (
            "(no cap)" if cap is None else f"({day / cap:.0%})" if cap else "(cap 0)"
        )
        out.append(
            f"{c.strategy:16} {c.transport:7} {c.sent:5d} {c.refused:7d} {c.credited:11.2f} "
            f"{c.first:8.2f} {c.sent / max(c.seconds, 1e-6):7.0f} {hour:10.2f} {share:>24}"
        )
    samples = results["samples"]
    priced = sum((p for _, p, _ in samples), Decimal(0))
    paid = sum((c for _, _, c in samples), Decimal(0))
    out.append(f"genuine samples ({len(samples)} shipped logs, first submission, HTTP):"
               f" priced ${priced:.2f}, credited ${paid:.2f}")  # fmt: skip
    out += [f"  {name:28} priced {p:6.2f}  credited {c:6.2f}" for name, p, c in samples]
    return "\n".join(out)


if __name__ == "__main__":
    print(report(run(int(sys.argv[1]) if len(sys.argv) > 1 else 100)))

"""Benchmark: end-to-end ingest into the durable inbox, records/s, and the daemon's peak RSS.

Run: ``python -m tests.bench.ingest [RECORDS_PER_CLIENT]``. In one run:

* ``logmarket.Handler`` in 1 and 4 app processes → socket → daemon → SQLite (WAL,
  synchronous=FULL): wall time from the first record logged to the last one committed.
* raw protocol clients (pre-encoded batches through ``Shipper``), 1 and 4 processes: the
  daemon's own capacity, with the apps' logging cost taken out.
* the peer, stdlib ``QueueHandler`` + ``QueueListener`` → ``FileHandler`` in the same number
  of processes (a local file, not durable): what moving records costs without any daemon.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.conftest import DaemonProcess, http_get

HANDLER_APP = r"""
import logging, sys, time
import logmarket
sock, n = sys.argv[1], int(sys.argv[2])
h = logmarket.Handler(socket_path=sock, capacity=n + 1, flush_timeout=300)
log = logging.getLogger("bench"); log.addHandler(h); log.setLevel(logging.INFO); log.propagate = False
for i in range(n):
    log.info("GET /api/v1/items/%d 200 in %d ms user=%s", i, i % 97, "u%d" % (i % 13))
assert h.flush(300), "not flushed"
assert h.dropped == 0
"""

RAW_APP = r"""
import json, sys
from logmarket.shipper import Shipper
sock, n = sys.argv[1], int(sys.argv[2])
s = Shipper(sock, {"source": "runtime"})
s.connect()
recs = [json.dumps({"message": "GET /api/v1/items/%d 200 in %d ms user=u%d" % (i, i % 97, i % 13),
                    "level": "INFO", "logger": "bench", "ts": 1.7e9 + i}) for i in range(1000)]
sent = 0
while sent < n:
    s.send(recs); sent += len(recs)
    while s.in_flight >= 16:
        s.poll_acks(1.0)
while s.in_flight:
    s.poll_acks(1.0)
"""

PEER_APP = r"""
import logging, logging.handlers, queue, sys
path, n = sys.argv[1], int(sys.argv[2])
q = queue.Queue(-1)
fh = logging.FileHandler(path)
fh.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
listener = logging.handlers.QueueListener(q, fh); listener.start()
log = logging.getLogger("bench"); log.addHandler(logging.handlers.QueueHandler(q))
log.setLevel(logging.INFO); log.propagate = False
for i in range(n):
    log.info("GET /api/v1/items/%d 200 in %d ms user=%s", i, i % 97, "u%d" % (i % 13))
listener.stop(); fh.close()
"""


def _stored(d: DaemonProcess) -> int:
    _, body = http_get(d.url + "/npe/log-marketplace/dashboard", token=d.admin_token)
    return int(json.loads(body)["ingest"]["recordsStored"])


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _run_clients(code: str, target: str, clients: int, n: int) -> float:
    started = time.perf_counter()
    procs = [
        subprocess.Popen([sys.executable, "-c", code, target.format(i=i), str(n)])
        for i in range(clients)
    ]
    for p in procs:
        if p.wait(900) != 0:
            raise RuntimeError("a benchmark client failed")
    return time.perf_counter() - started


def run(n: int) -> list[tuple[str, int, float]]:
    rows: list[tuple[str, int, float]] = []
    root = Path(tempfile.mkdtemp(prefix="lmi", dir="/tmp"))
    for clients in (1, 4):
        per = n // clients
        for label, code in (
            ("logmarket.Handler → daemon", HANDLER_APP),
            ("raw protocol → daemon", RAW_APP),
        ):
            d = DaemonProcess(root / f"{label[:3]}{clients}").start()
            try:
                before = _stored(d)
                wall = _run_clients(code, str(d.socket), clients, per)
                assert _stored(d) - before == per * clients, "records missing"
                rows.append((label, clients, per * clients / wall))
                rss = _peak_rss_mib(d.proc.pid) if d.proc else float("nan")
                rows.append((f"  daemon peak RSS MiB ({label.split()[0]})", clients, rss))
            finally:
                d.stop()
        wall = _run_clients(PEER_APP, str(root / "peer-{i}.log"), clients, per)
        rows.append(("stdlib QueueHandler → FileHandler (peer)", clients, per * clients / wall))
    return rows


def report(rows: list[tuple[str, int, float]], n: int) -> str:
    out = [f"End-to-end ingest, {n:,} records per configuration (SQLite WAL, synchronous=FULL)"]
    out.append(f"{'path':44} {'procs':>5} {'records/s or MiB':>17}")
    for label, clients, value in rows:
        out.append(f"{label:44} {clients:5d} {value:17,.0f}")
    return "\n".join(out)


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 400_000
    print(report(run(count), count))

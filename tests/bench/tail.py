"""Benchmark: the file tailer next to rsyslog's imfile, in the same run.

Run: ``python tests/bench/tail.py [--lines 1000000] [--files 1000] [--idle 10]``
(or ``python -m tests.bench.tail``). Prints, side by side:

1. catch-up: a file of LINES lines already on disk, read from its start. Ours: ``logmarket
   tail`` -> Unix socket -> ``logmarketd`` -> SQLite (WAL, synchronous=FULL), acknowledged;
   timed until the daemon has committed every line (ingest only: the daemon runs with
   ``--no-log-marketplace-enabled``, as rsyslog only moves lines too). rsyslog: ``imfile`` -> ``omfile`` to a
   local file (not fsynced), timed until the output holds every line.
2. idle: CPU used while watching FILES files in which nothing happens (inotify), ours in
   events and polling (1 s) modes, and rsyslog imfile with a wildcard.
3. copytruncate while behind: 300,000 lines written as fast as possible, then the file is
   copied and truncated at once and 1,000 more lines are written; how many lines each
   shipper ends up delivering.

rsyslog: ``apt-get install -y rsyslog``; run unprivileged-ish here with its own config, work
directory and pid file in a temp dir (no system socket, no system log touched).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'daemon'}"}
RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def line(i: int) -> str:
    return f"2026-11-28T05:00:00.{i % 1000:03d}Z INFO GET /api/v1/items/{i} 200 in {i % 97} ms\n"


def write_lines(path: str, start: int, n: int) -> None:
    with open(path, "a") as f:
        for lo in range(start, start + n, 10_000):
            f.write("".join(line(i) for i in range(lo, min(lo + 10_000, start + n))))


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and its reaped children), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return sum(int(x) for x in fields[11:15]) / ticks


def wait_until(cond, timeout: float, interval: float = 0.1) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(interval)
    return False


class Daemon:
    def __init__(self, base: str) -> None:
        self.state = os.path.join(base, "state")
        self.sock = os.path.join(base, "d.sock")
        self.log = open(os.path.join(base, "daemon.log"), "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logmarketd", "--state-dir", self.state, "--socket",
             self.sock, "--http", "", "--log-level", "warning", "--no-log-marketplace-enabled"],
            env=ENV, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        assert wait_until(self._up, 30), "daemon did not start"

    def _up(self) -> bool:
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def stored(self) -> int:
        db = os.path.join(self.state, "logmarket.db")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return int(con.execute("SELECT COALESCE(SUM(n_records), 0) FROM inbox").fetchone()[0])
        finally:
            con.close()

    def messages(self) -> list[str]:
        import json

        db = os.path.join(self.state, "logmarket.db")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            rows = con.execute("SELECT frame FROM inbox ORDER BY id").fetchall()
        finally:
            con.close()
        return [r["message"] for (f,) in rows for r in json.loads(f)["records"]]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(30)
        self.log.close()


def tailer(paths: list[str], sock: str, ckpt: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "logmarket.cli", "tail", *paths, "--socket", sock,
         "--checkpoint", ckpt, "--from-beginning", "--no-multiline", *extra],
        env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Rsyslog:
    """rsyslogd -n with imfile -> omfile, all under ``base``."""

    def __init__(self, base: str, input_glob: str, output: str, *, truncate: bool = False):
        work = os.path.join(base, "rsyslog-work")
        os.makedirs(work, exist_ok=True)
        conf = os.path.join(base, "rsyslog.conf")
        reopen = ' reopenOnTruncate="on"' if truncate else ""
        Path(conf).write_text(
            f'global(workDirectory="{work}")\n'
            'module(load="imfile" mode="inotify")\n'
            'template(name="raw" type="string" string="%msg%\\n")\n'
            f'input(type="imfile" File="{input_glob}" Tag="bench" ruleset="out"'
            f' freshStartTail="off"{reopen})\n'
            'ruleset(name="out") {\n'
            f'  action(type="omfile" file="{output}" template="raw" asyncWriting="on"'
            ' ioBufferSize="256k" flushInterval="1")\n}\n'
        )
        self.output = output
        self.proc = subprocess.Popen(
            [RSYSLOGD, "-n", "-f", conf, "-i", os.path.join(base, "rsyslog.pid")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def lines(self) -> int:
        try:
            with open(self.output, "rb") as f:
                return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def stop(self) -> None:
        stop(self.proc)  # type: ignore[arg-type]


def bench_catch_up(n: int) -> tuple[float, float, float, float]:
    """(ours lines/s, rsyslog lines/s, our tailer's and the daemon's CPU seconds)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        src = os.path.join(base, "big.log")
        write_lines(src, 0, n)
        d = Daemon(base)
        try:
            t0 = time.perf_counter()
            proc = tailer([src], d.sock, os.path.join(base, "ckpt.json"))
            ok = wait_until(lambda: d.stored() >= n, 600, 0.2)
            ours = time.perf_counter() - t0
            cpu = cpu_seconds(proc.pid)
            daemon_cpu = cpu_seconds(d.proc.pid)
            stop(proc)
            assert ok and d.stored() == n, f"stored {d.stored()} of {n}"
        finally:
            d.stop()
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        src = os.path.join(base, "big.log")
        write_lines(src, 0, n)
        t0 = time.perf_counter()
        r = Rsyslog(base, src, os.path.join(base, "out.log"))
        try:
            ok = wait_until(lambda: r.lines() >= n, 600, 0.1)
            theirs = time.perf_counter() - t0
            assert ok, f"rsyslog wrote {r.lines()} of {n}"
        finally:
            r.stop()
    return n / ours, n / theirs, cpu, daemon_cpu


def bench_idle(files: int, seconds: float) -> dict[str, float]:
    """CPU % of one core while watching ``files`` quiet files."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        logs = os.path.join(base, "logs")
        for i in range(files):
            d = os.path.join(logs, f"d{i % 20}")
            os.makedirs(d, exist_ok=True)
            Path(d, f"f{i}.log").write_text(f"file {i} first line\n")
        d = Daemon(base)
        try:
            for mode, extra in (("ours, events", []), ("ours, polling 1 s", ["--poll"])):
                ckpt = os.path.join(base, f"ckpt-{len(extra)}.json")
                proc = tailer([logs], d.sock, ckpt, *extra)
                wait_until(lambda c=ckpt: os.path.exists(c), 30)  # type: ignore[misc]
                time.sleep(3)  # startup and first reads done
                c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
                time.sleep(seconds)
                out[mode] = 100 * (cpu_seconds(proc.pid) - c0) / (time.perf_counter() - t0)
                stop(proc)
        finally:
            d.stop()
        r = Rsyslog(base, os.path.join(logs, "d*", "*.log"), os.path.join(base, "out.log"))
        try:
            wait_until(lambda: r.lines() >= files, 30)
            time.sleep(2)
            c0, t0 = cpu_seconds(r.proc.pid), time.perf_counter()
            time.sleep(seconds)
            out["rsyslog imfile"] = (
                100 * (cpu_seconds(r.proc.pid) - c0) / (time.perf_counter() - t0)
            )
        finally:
            r.stop()
    return out


def bench_copytruncate_behind(n: int = 300_000, after: int = 1000) -> dict[str, tuple[int, int]]:
    """Lines delivered of ``n + after`` when copytruncate strikes while the shipper is behind."""
    out: dict[str, tuple[int, int]] = {}
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        logs = os.path.join(base, "logs")
        os.makedirs(logs)
        app = os.path.join(logs, "app.log")
        Path(app).write_text("")
        d = Daemon(base)
        try:
            proc = tailer([logs], d.sock, os.path.join(base, "ckpt.json"))
            time.sleep(1.0)
            write_lines(app, 0, n)
            shutil.copyfile(app, app + ".1")
            os.truncate(app, 0)
            write_lines(app, n, after)
            wait_until(lambda: d.stored() >= n + after, 120, 0.2)
            time.sleep(2)
            got = d.messages()
            stop(proc)
        finally:
            d.stop()
        out["ours"] = (len(set(got)), len(got) - len(set(got)))
    with tempfile.TemporaryDirectory(dir="/tmp") as base:
        app = os.path.join(base, "app.log")
        Path(app).write_text("")
        r = Rsyslog(base, app, os.path.join(base, "out.log"), truncate=True)
        try:
            time.sleep(1.0)
            write_lines(app, 0, n)
            shutil.copyfile(app, app + ".1")
            os.truncate(app, 0)
            write_lines(app, n, after)
            last = -1
            while r.lines() != last:  # until it stops making progress
                last = r.lines()
                time.sleep(2)
            lines = Path(r.output).read_text().splitlines()
        finally:
            r.stop()
        out["rsyslog imfile"] = (len(set(lines)), len(lines) - len(set(lines)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--idle", type=float, default=10.0, help="seconds of idle measurement")
    args = ap.parse_args()
    print(
        f"rsyslog: {subprocess.run([RSYSLOGD, '-v'], capture_output=True, text=True).stdout.splitlines()[0]}"
    )
    ours, theirs, cpu, daemon_cpu = bench_catch_up(args.lines)
    print(f"\n1. catch-up of a {args.lines:,}-line file (ours: acked into the daemon's SQLite)")
    print(f"   ours            {ours:>10,.0f} lines/s   (CPU: tailer {cpu:.1f} s,"
          f" daemon {daemon_cpu:.1f} s)")  # fmt: skip
    print(f"   rsyslog imfile  {theirs:>10,.0f} lines/s   (to a local file)")
    print(f"   ratio ours/rsyslog: {ours / theirs:.2f}")
    idle = bench_idle(args.files, args.idle)
    print(f"\n2. idle CPU watching {args.files:,} quiet files ({args.idle:.0f} s)")
    for k, v in idle.items():
        print(f"   {k:<18} {v:6.2f} % of a core")
    ct = bench_copytruncate_behind()
    total = 300_000 + 1000
    print(f"\n3. copytruncate while behind: {total:,} lines written")
    for k, (uniq, dup) in ct.items():
        print(f"   {k:<16} delivered {uniq:>8,} ({100 * (total - uniq) / total:5.1f} % lost),"
              f" {dup:,} duplicates")  # fmt: skip


if __name__ == "__main__":
    main()

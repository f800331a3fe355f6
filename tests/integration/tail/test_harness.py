"""Shared helpers of the tailer's tests: a real daemon subprocess, a tailer in a thread or a
subprocess, and reading back what the daemon stored (its SQLite inbox, line for line)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from logmarket.tail import TailConfig, Tailer
from tests.conftest import REPO

__all__ = ["DaemonProc", "TailThread", "stored", "wait_for"]

# watchdog 7 warns from its emitter thread when a new directory's watch gets a callback
# twice (sub and sub/deeper created at once); harmless (the tailer rescans after a change
# of names), but under warnings-as-errors it would kill that thread.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")

ROOT = REPO


def wait_for(cond: Any, timeout: float = 30.0, interval: float = 0.05) -> None:
    """Wait until ``cond()`` is true; fail the test with a clear message if it never is."""
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


class DaemonProc:
    """``python -m logmarketd`` as a real subprocess on a short Unix socket path.

    ``prefix``: when the daemon is shared between tests, each one reads back only the
    records of its own files (their paths start with the test's directory).
    """

    def __init__(self, base: str, prefix: str | None = None) -> None:
        self.state = os.path.join(base, "state")
        self.sock = os.path.join(base, "d.sock")
        self.prefix = prefix
        self.proc: subprocess.Popen[bytes] | None = None

    def view(self, prefix: str) -> DaemonProc:
        """The same running daemon, read back for the files under ``prefix`` only."""
        v = DaemonProc.__new__(DaemonProc)
        v.__dict__.update(self.__dict__)
        v.prefix = prefix
        return v

    def stored(self) -> list[dict[str, Any]]:
        recs = stored(self.db)
        if self.prefix is None:
            return recs
        return [r for r in recs if str(r.get("stream", "")).startswith(self.prefix)]

    def messages(self) -> list[str]:
        return [r["message"] for r in self.stored()]

    def start(self) -> DaemonProc:
        env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'daemon'}"}
        self.log = open(os.path.join(os.path.dirname(self.sock), "daemon.log"), "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "logmarketd", "--state-dir", self.state,
             "--socket", self.sock, "--http", "", "--log-level", "warning",
             "--no-log-marketplace-enabled"],
            env=env, stdout=self.log, stderr=self.log,
        )  # fmt: skip
        wait_for(self._up, 30)
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"daemon exited with {self.proc.returncode}")
        s = socket.socket(socket.AF_UNIX)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def kill(self) -> None:
        """SIGKILL: nothing is flushed, nothing cleaned up."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            self.proc = None
            self.log.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
            self.log.close()

    @property
    def db(self) -> str:
        return os.path.join(self.state, "logmarket.db")


def stored(db: str) -> list[dict[str, Any]]:
    """Every record the daemon committed, in commit order."""
    if not os.path.exists(db):
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        rows = con.execute("SELECT frame FROM inbox ORDER BY id").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" not in str(exc):
            raise
        return []  # a daemon that has created the file and not yet its tables
    finally:
        con.close()
    out: list[dict[str, Any]] = []
    for (frame,) in rows:
        out.extend(json.loads(frame)["records"])
    return out


def messages(db: str) -> list[str]:
    return [r["message"] for r in stored(db)]


class TailThread:
    """A :class:`Tailer` running in a thread of the test process."""

    def __init__(self, config: TailConfig) -> None:
        self.tailer = Tailer(config)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            self.tailer.run()
        except BaseException as exc:  # surfaced by stop(): a test must not hide a crash
            self.error = exc

    def start(self) -> TailThread:
        self.thread.start()
        wait_for(lambda: self.tailer.ready.is_set() or self.error is not None, 30)
        if self.error is not None:
            raise self.error
        return self

    def stop(self) -> None:
        self.tailer.stop()
        self.thread.join(30)
        assert not self.thread.is_alive(), "tailer did not stop"
        if self.error is not None:
            raise self.error


def tail_cli(paths: list[str], sock: str, ckpt: str, *extra: str) -> subprocess.Popen[bytes]:
    """``python -m logmarket.cli tail ...`` as a subprocess (to be killed with -9)."""
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'daemon'}"}
    with open(os.path.join(os.path.dirname(ckpt), "tail.log"), "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "logmarket.cli", "tail", *paths, "--socket", sock,
             "--checkpoint", ckpt, "--flush-timeout", "0.2", "--verbose", *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip


@pytest.fixture
def tmp() -> Iterator[str]:
    """A short directory under /tmp (Unix socket paths must stay under 108 bytes)."""
    d = tempfile.mkdtemp(prefix="lmt", dir="/tmp")
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def _shared_daemon() -> Iterator[DaemonProc]:
    base = tempfile.mkdtemp(prefix="lmd", dir="/tmp")
    d = DaemonProc(base).start()
    try:
        yield d
    finally:
        with contextlib.suppress(Exception):
            d.kill()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def daemon(tmp: str, _shared_daemon: DaemonProc) -> DaemonProc:
    """A daemon shared by the tests that never stop it; each sees only its own files."""
    return _shared_daemon.view(tmp)


@pytest.fixture
def own_daemon(tmp: str) -> Iterator[DaemonProc]:
    """A daemon of this test alone, for tests that kill and restart it."""
    d = DaemonProc(tmp).start()
    try:
        yield d
    finally:
        with contextlib.suppress(Exception):
            d.kill()


def config(tmp: str, daemon: DaemonProc, paths: list[str], **kw: Any) -> TailConfig:
    kw.setdefault("flush_timeout", 0.2)
    kw.setdefault("poll_interval", 0.05)
    kw.setdefault("linger", 0.5)
    return TailConfig(
        paths=paths,
        socket_path=daemon.sock,
        checkpoint_path=os.path.join(tmp, "ckpt.json"),
        **kw,
    )


def test_harness_reads_back_what_a_tailer_ships(tmp: str, daemon: DaemonProc) -> None:
    """A file written before and after the tailer starts arrives whole, line for line."""
    path = os.path.join(tmp, "logs", "app.log")
    os.makedirs(os.path.dirname(path))
    with open(path, "w") as f:
        f.write("one\ntwo\n")
    t = TailThread(config(tmp, daemon, [path], from_beginning=True)).start()
    try:
        with open(path, "a") as f:
            f.write("three\n")
        wait_for(lambda: len(daemon.messages()) >= 3)
    finally:
        t.stop()
    recs = daemon.stored()
    assert [r["message"] for r in recs] == ["one", "two", "three"]
    assert {r["stream"] for r in recs} == {path}
    assert {r["source"] for r in recs} == {"runtime"}


def settle(count: Any, total: int, timeout: float = 60.0, quiet: float = 5.0) -> int:
    """Wait until ``count()`` reaches ``total`` or stops growing for ``quiet`` seconds (lines
    that never come must not hold a failing test for its whole timeout); returns the count."""
    deadline = time.monotonic() + timeout
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        n = int(count())
        if n >= total:
            break
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > quiet:
            break
        time.sleep(0.1)
    time.sleep(0.5)  # a duplicate arriving late would show here
    return int(count())


def lines_on_disk(directory: str) -> dict[str, int]:
    """Every line of every file in ``directory`` (``.gz`` decompressed), with its count."""
    import collections
    import gzip

    out: collections.Counter[str] = collections.Counter()
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if not os.path.isfile(path):
            continue
        opener: Any = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as f:
            data = f.read()
        out.update(line.decode() for line in data.split(b"\n") if line)
    return dict(out)


def loss_report(got: list[str], expected: list[str]) -> str:
    """What a comparison found: lines lost, lines stored twice, first place out of order."""
    import collections

    counts = collections.Counter(got)
    lost = [m for m in expected if m not in counts]
    twice = sum(c - 1 for c in counts.values() if c > 1)
    order = ""
    if not lost and not twice and got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        order = f", out of order at {first}: {got[max(0, first - 1) : first + 2]}"
    head = f"{len(lost)} of {len(expected)} lines lost, {twice} stored twice{order}"
    if lost:
        head += f" (first lost {lost[0][:12]}, last {lost[-1][:12]})"
    return head

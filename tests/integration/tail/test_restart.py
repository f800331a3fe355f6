"""Issue #10, failure 2: rotations while the tailer is down. An app writes numbered lines to
``DIR/app.log`` and rotates it (rename to ``app.log.N``, every third rotation by
copytruncate); the tailer - the daemon's own ``--watch 'DIR/*.log'``, or ``logmarket tail
'DIR/*.log'`` - is SIGKILLed while rotations go on and restarted. The rotated names no
longer match the glob: the restarted tailer must find what it had not finished wherever it
went, and every line must be stored exactly once, in the order written."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, stored_messages
from tests.integration.tail.test_harness import (
    DaemonProc,
    _shared_daemon,
    loss_report,
    own_daemon,
    settle,
    tail_cli,
    tmp,
    wait_for,
)
from tests.integration.tail.test_rotation import Writer

__all__ = ["_shared_daemon", "own_daemon", "tmp"]

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


class RotatingApp(threading.Thread):
    """Writes ~2,500 lines/s to ``app.log``; every ``every`` lines a rotation: rename to
    ``app.log.1`` (older ones shifted up, none deleted), every third one by copytruncate."""

    def __init__(self, path: str, every: int = 1500) -> None:
        super().__init__(daemon=True)
        self.w = Writer(path, keep=1000, tag="A")
        self.every = every
        self.rotations = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            self.w.write(30)
            if self.w.n // self.every > self.rotations:
                self.rotations += 1
                if self.rotations % 3 == 0:
                    self.w.rotate_copytruncate()
                else:
                    self.w.rotate_rename()
            time.sleep(0.01)

    def finish(self) -> list[str]:
        self.halt.set()
        self.join()
        self.w.close()
        return self.w.lines


def _watching(d: DaemonProcess, starts: int) -> bool:
    return d.log.read_text().count('"watching"') >= starts


@pytest.mark.slow
def test_daemon_watch_loses_no_rotated_file_across_sigkill(short_tmp: Path) -> None:
    """``logmarketd --watch 'DIR/*.log'``, SIGKILLed twice while the app rotates; each time
    it is down ~1.5 s (two or three rotations). Every line is stored once, in order."""
    rng = random.Random(1010)
    logs = short_tmp / "logs"
    logs.mkdir()
    app = RotatingApp(str(logs / "app.log"))
    d = DaemonProcess(short_tmp, "--watch", str(logs / "*.log"))
    d.start()
    wait_for(lambda: _watching(d, 1), 20)
    app.start()
    try:
        for n in (2, 3):
            time.sleep(rng.uniform(1.5, 2.5))
            d.kill(signal.SIGKILL)
            time.sleep(rng.uniform(1.2, 1.8))
            d.start()
            wait_for(lambda n=n: _watching(d, n), 20)
        time.sleep(1.0)
        expected = app.finish()
        assert app.rotations >= 8
        settle(lambda: len(stored_messages(d.db)), len(expected))
        got = stored_messages(d.db)
    finally:
        app.halt.set()
        d.stop()
    assert got == expected, loss_report(got, expected)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait()


@pytest.mark.slow
def test_logmarket_tail_loses_no_rotated_file_across_sigkill(
    tmp: str, own_daemon: DaemonProc
) -> None:
    """``logmarket tail 'DIR/*.log'``: SIGKILL of the tailer, then of the daemon, then of
    both, each while the app rotates. Every line is stored once, in order."""
    daemon = own_daemon
    rng = random.Random(2020)
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    ckpt = os.path.join(tmp, "ckpt.json")
    glob_ = os.path.join(logs, "*.log")
    app = RotatingApp(os.path.join(logs, "app.log"))
    proc = tail_cli([glob_], daemon.sock, ckpt)
    wait_for(lambda: os.path.exists(ckpt), 20)
    app.start()
    try:
        for victim in ("tailer", "daemon", "both"):
            time.sleep(rng.uniform(1.5, 2.5))
            if victim in ("daemon", "both"):
                daemon.kill()
            if victim in ("tailer", "both"):
                _kill(proc)
            time.sleep(rng.uniform(1.2, 1.8))
            if daemon.proc is None:
                daemon.start()
            if victim != "daemon":
                proc = tail_cli([glob_], daemon.sock, ckpt)
        time.sleep(1.0)
        expected = app.finish()
        assert app.rotations >= 8
        settle(lambda: len(daemon.messages()), len(expected))
        got = daemon.messages()
    finally:
        app.halt.set()
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    assert got == expected, loss_report(got, expected)

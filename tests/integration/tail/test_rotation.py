"""Rotation under continuous writes: 50 rename rotations, 50 copytruncate rotations (some
while the tailer is behind), truncation, deletion, files appearing later - then the daemon's
store is compared with what was written, line for line: nothing lost, nothing twice, in order.
Every test runs with watchdog events and with polling."""

from __future__ import annotations

import contextlib
import os
import shutil
import time

import pytest

from tests.integration.tail.test_harness import (
    DaemonProc,
    TailThread,
    _shared_daemon,
    config,
    daemon,
    own_daemon,
    tmp,
    wait_for,
)

__all__ = ["_shared_daemon", "daemon", "own_daemon", "tmp"]

# watchdog 7 warns from its emitter thread when a new directory's watch gets a callback
# twice (sub and sub/deeper created at once); harmless (the tailer rescans after a change
# of names), but under warnings-as-errors it would kill that thread.
pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")

MODES = ["events", "poll"]


class Writer:
    """Appends numbered lines to a log and rotates it the way logrotate does."""

    def __init__(self, path: str, keep: int = 4, tag: str = "L") -> None:
        self.path = path
        self.tag = tag
        self.keep = keep
        self.n = 0
        self.lines: list[str] = []
        self.f = open(path, "a")  # noqa: SIM115

    def write(self, count: int) -> None:
        for _ in range(count):
            line = (
                f"{self.tag}{self.n:07d} the quick brown fox jumps over the lazy dog {self.n % 97}"
            )
            self.f.write(line + "\n")
            self.lines.append(line)
            self.n += 1
        self.f.flush()

    def _shift(self) -> None:
        last = f"{self.path}.{self.keep}"
        if os.path.exists(last):
            os.unlink(last)
        for i in range(self.keep - 1, 0, -1):
            src = f"{self.path}.{i}"
            if os.path.exists(src):
                os.rename(src, f"{self.path}.{i + 1}")

    def rotate_rename(self) -> None:
        self._shift()
        self.f.close()
        os.rename(self.path, f"{self.path}.1")
        self.f = open(self.path, "a")  # noqa: SIM115

    def rotate_copytruncate(self) -> None:
        self._shift()
        self.f.flush()
        shutil.copyfile(self.path, f"{self.path}.1")
        os.truncate(self.path, 0)  # the writer's O_APPEND descriptor goes on at offset 0

    def close(self) -> None:
        self.f.close()


def assert_exact(daemon: DaemonProc, expected: list[str], timeout: float = 20.0) -> None:
    with contextlib.suppress(AssertionError):
        wait_for(lambda: len(daemon.messages()) >= len(expected), timeout)
    time.sleep(0.3)  # a duplicate arriving late would show here
    got = daemon.messages()
    assert len(got) == len(set(got)), "a line was stored twice"
    missing = sorted(set(expected) - set(got))
    assert not missing, f"{len(missing)} lines lost: {missing[0][:8]}..{missing[-1][:8]}"
    if got != expected:
        first = next(i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b)
        raise AssertionError(f"out of order at {first}: got {got[first - 1 : first + 2]}")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["rename", "copytruncate"])
def test_fifty_rotations_under_continuous_writes(
    tmp: str, daemon: DaemonProc, mode: str, kind: str
) -> None:
    """50 rotations of one kind while lines keep coming: the store holds each line once."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    w = Writer(os.path.join(logs, "app.log"), keep=8)
    t = TailThread(config(tmp, daemon, [logs], mode=mode, from_beginning=True)).start()
    try:
        for i in range(50):
            w.write(80)
            if i % 10 == 9:
                w.write(3000)  # a burst: the tailer is behind when the rotation comes
            (w.rotate_rename if kind == "rename" else w.rotate_copytruncate)()
            # A generation lives 8 rotations before it is deleted: longer than a poll.
            time.sleep(0.03)
        w.write(50)
        assert_exact(daemon, w.lines)
    finally:
        w.close()
        t.stop()


@pytest.mark.parametrize("mode", MODES)
def test_copytruncate_while_daemon_down_loses_nothing(
    tmp: str, own_daemon: DaemonProc, mode: str
) -> None:
    """With the daemon gone the tailer stops reading; lines written meanwhile, copied away
    and truncated out of the live file are read from the rotated copy once it is back."""
    daemon = own_daemon
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    w = Writer(os.path.join(logs, "app.log"))
    t = TailThread(config(tmp, daemon, [logs], mode=mode, from_beginning=True)).start()
    try:
        w.write(100)
        wait_for(lambda: len(daemon.messages()) == 100)
        daemon.kill()
        w.write(5000)
        w.rotate_copytruncate()
        w.write(100)
        time.sleep(0.5)
        daemon.start()
        assert_exact(daemon, w.lines)
    finally:
        w.close()
        t.stop()


@pytest.mark.parametrize("mode", MODES)
def test_copytruncate_while_tailer_down_loses_nothing(
    tmp: str, daemon: DaemonProc, mode: str
) -> None:
    """A copytruncate that happens while the tailer is stopped is found at restart: the
    unread rest comes from the copy, the live file starts over, nothing twice."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    w = Writer(os.path.join(logs, "app.log"))
    cfg = config(tmp, daemon, [logs], mode=mode, from_beginning=True)
    t = TailThread(cfg).start()
    w.write(100)
    wait_for(lambda: len(daemon.messages()) == 100)
    t.stop()
    w.write(2000)
    w.rotate_copytruncate()
    w.write(100)
    w.rotate_rename()  # and a rename on top: the old inode moved to app.log.1
    w.write(100)
    t = TailThread(cfg).start()
    try:
        assert_exact(daemon, w.lines)
    finally:
        w.close()
        t.stop()


@pytest.mark.parametrize("mode", MODES)
def test_truncation_deletion_and_late_files(tmp: str, daemon: DaemonProc, mode: str) -> None:
    """A truncated file is read again from 0; a deleted file is read to its end; a file
    created later, in a new subdirectory too, is read from its start."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    a = os.path.join(logs, "a.log")
    with open(a, "w") as f:
        f.write("a1\na2\n")
    t = TailThread(config(tmp, daemon, [logs], mode=mode, from_beginning=True)).start()
    try:
        wait_for(lambda: len(daemon.messages()) == 2)
        with open(a, "w") as f:  # O_TRUNC: truncation in place
            f.write("a3\n")
        wait_for(lambda: "a3" in daemon.messages())
        with open(a, "a") as f:
            f.write("a4\n")
        os.makedirs(os.path.join(logs, "sub", "deeper"))
        b = os.path.join(logs, "sub", "deeper", "b.log")
        with open(b, "w") as f:
            f.write("b1\nb2\n")
        wait_for(lambda: len(daemon.messages()) == 6)
        with open(b, "a") as f:
            f.write("b3\n")
        os.unlink(b)
        wait_for(lambda: len(daemon.messages()) == 7)
        time.sleep(0.3)
    finally:
        t.stop()
    got = daemon.messages()
    assert sorted(got) == ["a1", "a2", "a3", "a4", "b1", "b2", "b3"]
    assert [m for m in got if m.startswith("a")] == ["a1", "a2", "a3", "a4"]

"""``copytruncate`` rotations that come faster than the tailer looks: several rotations between
two scans, one of them caught halfway (copied, not yet truncated), or names shifted between a
scan and the opening of what it found. The tailer is stepped by hand - scan, read, send, take
acks - against a real daemon, so that the files change exactly between two steps, and the
store must hold every line once, in the order written."""

from __future__ import annotations

import os
import shutil
import time

from logmarket.tail import Tailer
from tests.integration.tail.test_harness import (
    DaemonProc,
    _shared_daemon,
    config,
    daemon,
    tmp,
    wait_for,
)

__all__ = ["_shared_daemon", "daemon", "tmp"]


class Log:
    """A log written and rotated by hand: each generation is ``n`` numbered lines."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.n = 0
        self.lines: list[str] = []
        open(path, "w").close()

    def write(self, count: int) -> None:
        with open(self.path, "a") as f:
            for _ in range(count):
                line = f"C{self.n:07d} jumps over the lazy dog {self.n % 89}"
                f.write(line + "\n")
                self.lines.append(line)
                self.n += 1

    def shift(self) -> None:
        for i in range(8, 0, -1):
            if os.path.exists(f"{self.path}.{i}"):
                os.rename(f"{self.path}.{i}", f"{self.path}.{i + 1}")

    def copy(self) -> None:
        shutil.copyfile(self.path, f"{self.path}.1")

    def truncate(self) -> None:
        os.truncate(self.path, 0)


def turn(t: Tailer) -> None:
    """One turn of the tailer's polling loop: scan, read what waits, send, take the acks."""
    now = time.monotonic()
    assert t._connect(now)
    t._scan(start_at_end=False)
    t._dirty |= t._later | t._timers
    t._later.clear()
    t._timers.clear()
    while (t._dirty or t._replaced) and t._ship(now):
        pass
    wait_for(lambda: (t._poll(0.05), not t.shipper.in_flight)[1], 10)


def settle(t: Tailer, daemon: DaemonProc, count: int) -> None:
    """Turns until the daemon holds ``count`` lines (a flush timeout may hold a last one)."""
    deadline = time.monotonic() + 10
    while len(daemon.messages()) < count and time.monotonic() < deadline:
        turn(t)
        time.sleep(0.05)


def test_copy_caught_before_truncation_ships_before_later_rotations(
    tmp: str, daemon: DaemonProc
) -> None:
    """A scan sees a generation copied but the live file not yet truncated (the copy is held
    back as a twin of the live file, nothing of which was read); before the next scan the
    live file is truncated, written, and rotated again. The held copy is the older
    generation: it ships before the newer copy and before the live file's new lines."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    log = Log(os.path.join(logs, "app.log"))
    t = Tailer(config(tmp, daemon, [logs], mode="poll", from_beginning=True))
    t._open()
    try:
        turn(t)  # the live file, empty: nothing to read yet
        log.write(80)
        log.shift()
        log.copy()  # halfway: app.log.1 is a copy of app.log, not yet truncated
        turn(t)
        assert t.stats["copies_held"] == 1
        log.truncate()
        log.write(80)
        log.shift()
        log.copy()
        log.truncate()
        log.write(80)
        settle(t, daemon, len(log.lines))
        assert daemon.messages() == log.lines
        turn(t)  # and nothing comes twice later
        assert daemon.messages() == log.lines
    finally:
        t.shipper.disconnect()
        for tf in t.tracker.files.values():
            tf.close()


def test_many_rotations_between_scans_keep_the_order(tmp: str, daemon: DaemonProc) -> None:
    """Three to five ``copytruncate`` rotations between scans, some scans halfway through
    one: every line arrives once, oldest generation first."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    log = Log(os.path.join(logs, "app.log"))
    t = Tailer(config(tmp, daemon, [logs], mode="poll", from_beginning=True))
    t._open()
    try:
        turn(t)
        for round_ in range(6):
            for _ in range(3 + round_ % 3):
                log.write(40 + round_)
                log.shift()
                log.copy()
                log.truncate()
            log.write(30)
            if round_ % 2:
                log.shift()
                log.copy()  # the scan comes before the truncation
                turn(t)
                log.truncate()
                log.write(20)
            turn(t)
        settle(t, daemon, len(log.lines))
        assert daemon.messages() == log.lines
        turn(t)  # and nothing comes twice later
        assert daemon.messages() == log.lines
    finally:
        t.shipper.disconnect()
        for tf in t.tracker.files.values():
            tf.close()


def test_a_name_taken_between_scan_and_open_is_looked_at_again(
    tmp: str, daemon: DaemonProc
) -> None:
    """A rotation shifts names after the scan listed them, before the files are opened:
    ``app.log.1`` is another file by then, the one listed there now ``app.log.2``. The newer
    file is not taken for the older one; the scan is done again, and the older generation
    ships first."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    log = Log(os.path.join(logs, "app.log"))
    t = Tailer(config(tmp, daemon, [logs], mode="poll", from_beginning=True))
    t._open()
    try:
        turn(t)
        log.write(80)
        log.shift()
        log.copy()
        log.truncate()
        found = t.finder.scan()  # app.log.1 is the first generation here...
        log.write(80)
        log.shift()  # ...and from here on, app.log.2
        log.copy()
        log.truncate()
        log.write(80)
        dirty, replaced = t.tracker.reconcile(found, start_at_end=False, now=time.monotonic())
        assert t.tracker.moved
        assert os.path.join(logs, "app.log.1") not in t.tracker.by_path
        t._dirty |= dirty
        t._replaced.extend(replaced)
        settle(t, daemon, len(log.lines))
        assert daemon.messages() == log.lines
    finally:
        t.shipper.disconnect()
        for tf in t.tracker.files.values():
            tf.close()

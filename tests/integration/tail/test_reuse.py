"""A closed generation's inode taken by the next live log. logrotate ``create`` + ``compress``
+ ``delaycompress`` deletes a generation the tailer has read to its end; the tailer closes it,
and keeps it only until its last batch is acknowledged (later under load). ext4 gives the
freed inode to the next file created - a later rotation's new live log, say. That is a new
file, read after every older generation; it is not the closed file found again with its content
replaced (which made it that file's next generation, ranked with it: read before the unread
lines of the generations rotated since). The tailer is stepped by hand against a real daemon,
so that the acks wait exactly where they must."""

from __future__ import annotations

import gzip
import os
import shutil
import time

import pytest

from logmarket.tail import Tailer
from tests.integration.tail.test_copies import settle, turn
from tests.integration.tail.test_harness import (
    DaemonProc,
    _shared_daemon,
    config,
    daemon,
    tmp,
)

__all__ = ["_shared_daemon", "daemon", "tmp"]


class Log:
    """``r.log`` written and rotated the way logrotate's ``create``, ``compress`` and
    ``delaycompress`` do it: shift the rotated names, rename the live log to ``.1``, create
    the new live log, then compress ``.2`` (its times kept) and delete it."""

    def __init__(self, logs: str) -> None:
        self.logs = logs
        self.path = os.path.join(logs, "r.log")
        self.lines: list[str] = []
        open(self.path, "w").close()

    def write(self, count: int) -> None:
        with open(self.path, "a") as f:
            for _ in range(count):
                n = len(self.lines)
                line = f"R{n:06d} GET /api/items/{n % 113} 200 {n % 7}ms"
                f.write(line + "\n")
                self.lines.append(line)

    def rotate(self, create: str | None = None) -> None:
        """One rotation; ``create``: a file to become the new live log (else a new one)."""
        for i in range(8, 1, -1):
            if os.path.exists(f"{self.path}.{i}.gz"):
                os.rename(f"{self.path}.{i}.gz", f"{self.path}.{i + 1}.gz")
        if os.path.exists(f"{self.path}.1"):
            os.rename(f"{self.path}.1", f"{self.path}.2")
        os.rename(self.path, f"{self.path}.1")
        if create is None:
            open(self.path, "w").close()
        else:
            os.rename(create, self.path)
        old = f"{self.path}.2"
        if os.path.exists(old):
            with open(old, "rb") as f, gzip.open(old + ".gz", "wb") as z:
                shutil.copyfileobj(f, z)
            st = os.stat(old)
            os.utime(old + ".gz", ns=(st.st_atime_ns, st.st_mtime_ns))
            os.unlink(old)

    def file_with_inode(self, ino: int, t: Tailer) -> str:
        """A new empty file holding inode ``ino``, freed a moment ago, under a name the
        tailer's glob does not match: ext4 gives the next file created in a directory the
        lowest free inode of its group. The tailer's checkpoint, replaced by a new file at
        each save, may have taken it first: then it is saved once more, which frees it."""
        for i in range(10_000):
            if os.stat(t.store.path).st_ino == ino:
                t._save(time.monotonic())
            path = os.path.join(self.logs, f"new{i}.tmp")
            open(path, "w").close()
            if os.stat(path).st_ino == ino:
                return path
        pytest.fail(f"inode {ino} was given to none of 10,000 new files (not ext4?)")


def step(t: Tailer) -> None:
    """A turn of the polling loop that takes no acks: what it sends stays in flight."""
    now = time.monotonic()
    assert t._connect(now)
    t._scan(start_at_end=False)
    t._dirty |= t._later | t._timers
    t._later.clear()
    t._timers.clear()
    while (t._dirty or t._replaced) and t._ship(now):
        pass


@pytest.mark.parametrize("closed", ["deleted", "quiet"])
def test_inode_of_a_closed_generation_reused_by_the_new_live_log(
    tmp: str, daemon: DaemonProc, closed: str
) -> None:
    """Generation A is read to its end and closed - once deleted, or once quiet for
    ``linger`` - with its last batch still unacknowledged; C is rotated with 40 lines unread;
    the new live log D takes A's freed inode. D's lines come after C's, not before."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    log = Log(logs)
    cfg = config(tmp, daemon, [os.path.join(logs, "*.log")], mode="poll")
    t = Tailer(cfg)
    t._open()
    try:
        log.write(30)
        turn(t)
        a = os.stat(log.path)
        log.write(10)
        step(t)  # A's last lines: in flight from here on
        log.rotate()  # A -> r.log.1, B is the live log
        log.write(10)
        step(t)
        if closed == "quiet":
            time.sleep(cfg.linger + 0.1)
            step(t)
            assert t.stats["files_closed"] == 1
        log.rotate()  # A -> r.log.2.gz (deleted), B -> r.log.1, C is the live log
        # D, the next live log, is made as soon as A's inode is free (another file created
        # nearby might take it), and put in place by the next rotation.
        d = log.file_with_inode(a.st_ino, t) if t.stats["files_closed"] else ""
        log.write(10)
        step(t)  # A read to its end and closed (if it was not yet)
        d = d or log.file_with_inode(a.st_ino, t)
        assert t.stats["files_closed"] == 1
        assert t.shipper.in_flight > 0  # A's last batch among them
        log.write(40)  # C's lines not read yet when it is rotated
        log.rotate(create=d)  # C -> r.log.1, D (A's inode) is the live log
        log.write(20)
        step(t)
        settle(t, daemon, len(log.lines))
        assert daemon.messages() == log.lines
    finally:
        t.shipper.disconnect()
        for tf in t.tracker.files.values():
            tf.close()

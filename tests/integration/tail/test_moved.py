"""Rotations while the tailer is stopped, one kind at a time (the glob is ``*.log``, so no
rotated name matches it): the restarted tailer finds the file it was reading under its new
name, the generations written while it was down, and the unread part of a ``copytruncate``
copy that ``compress`` turned into a ``.gz`` - and nothing older than its checkpoint."""

from __future__ import annotations

import gzip
import os
import shutil

import pytest

from tests.integration.tail.test_harness import (
    DaemonProc,
    TailThread,
    _shared_daemon,
    config,
    daemon,
    settle,
    tmp,
    wait_for,
)

__all__ = ["_shared_daemon", "daemon", "tmp"]

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


class Log:
    def __init__(self, path: str) -> None:
        self.path = path
        self.n = 0
        self.lines: list[str] = []

    def write(self, count: int) -> None:
        with open(self.path, "a") as f:
            for _ in range(count):
                line = f"M{self.n:06d} GET /items/{self.n % 31} 200"
                f.write(line + "\n")
                self.lines.append(line)
                self.n += 1

    def rename(self) -> None:
        """``create``: app.log.N -> app.log.N+1, app.log -> app.log.1, a new app.log."""
        for i in range(9, 0, -1):
            for ext in ("", ".gz"):
                src = f"{self.path}.{i}{ext}"
                if os.path.exists(src):
                    os.rename(src, f"{self.path}.{i + 1}{ext}")
        os.rename(self.path, f"{self.path}.1")
        open(self.path, "w").close()

    def copytruncate(self) -> None:
        shutil.copy2(self.path, f"{self.path}.1")  # logrotate keeps the times too
        os.truncate(self.path, 0)

    def compress(self, name: str) -> None:
        """``compress``: name -> name.gz (its times kept, as gzip does), name deleted."""
        src = f"{self.path}{name}"
        with open(src, "rb") as f, gzip.open(src + ".gz", "wb") as z:
            shutil.copyfileobj(f, z)
        st = os.stat(src)
        os.utime(src + ".gz", ns=(st.st_atime_ns, st.st_mtime_ns))
        os.unlink(src)


def _run(tmp: str, daemon: DaemonProc, logs: str, mode: str) -> TailThread:
    glob_ = os.path.join(logs, "*.log")
    return TailThread(config(tmp, daemon, [glob_], mode=mode, from_beginning=True)).start()


def _stored(daemon: DaemonProc) -> list[str]:
    return [m for m in daemon.messages() if m.startswith("M")]


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_renamed_away_and_generations_written_while_down(
    tmp: str, daemon: DaemonProc, mode: str
) -> None:
    """Down: the file being read is renamed twice (app.log.2), a whole generation is written
    and rotated (app.log.1), a third is live. All of it arrives, in order."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    log = Log(os.path.join(logs, "app.log"))
    log.write(100)
    t = _run(tmp, daemon, logs, mode)
    wait_for(lambda: len(_stored(daemon)) == 100)
    t.stop()
    log.write(50)  # unread, then renamed out of the glob
    log.rename()
    log.write(70)  # a generation no tailer saw
    log.rename()
    log.write(20)
    t = _run(tmp, daemon, logs, mode)
    try:
        settle(lambda: len(_stored(daemon)), len(log.lines), timeout=20)
    finally:
        t.stop()
    assert _stored(daemon) == log.lines


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_copytruncate_copy_compressed_while_down(tmp: str, daemon: DaemonProc, mode: str) -> None:
    """Down: copytruncate, then ``compress`` (no delaycompress) turns the copy into
    app.log.1.gz. Its unread part is read from the .gz at the remembered offset; an old
    .gz from before the first start is not read at all."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    ancient = os.path.join(logs, "app.log.7.gz")
    with gzip.open(ancient, "wt") as z:
        z.write("ancient line\n" * 10)
    os.utime(ancient, (1_600_000_000, 1_600_000_000))
    log = Log(os.path.join(logs, "app.log"))
    log.write(100)
    t = _run(tmp, daemon, logs, mode)
    wait_for(lambda: len(_stored(daemon)) == 100)
    t.stop()
    log.write(200)
    log.copytruncate()
    log.compress(".1")
    log.write(30)
    t = _run(tmp, daemon, logs, mode)
    try:
        settle(lambda: len(_stored(daemon)), len(log.lines), timeout=20)
    finally:
        t.stop()
    assert _stored(daemon) == log.lines
    assert "ancient line" not in daemon.messages()


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_renamed_then_compressed_and_deleted_while_down(
    tmp: str, daemon: DaemonProc, mode: str
) -> None:
    """Down: the file being read is renamed (``create``) and compressed: its inode is gone,
    its unread part is in app.log.1.gz, found by its first bytes."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    log = Log(os.path.join(logs, "app.log"))
    log.write(100)
    t = _run(tmp, daemon, logs, mode)
    wait_for(lambda: len(_stored(daemon)) == 100)
    t.stop()
    log.write(120)
    log.rename()
    log.compress(".1")
    log.write(40)
    t = _run(tmp, daemon, logs, mode)
    try:
        settle(lambda: len(_stored(daemon)), len(log.lines), timeout=20)
    finally:
        t.stop()
    assert _stored(daemon) == log.lines

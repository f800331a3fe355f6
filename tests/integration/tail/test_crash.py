"""kill -9 of the tailer and of the daemon at random points (seeded), under continuous
writes with rotations; after the last restart the store must hold every line exactly once,
in order per file. The tailer runs as a real ``logmarket tail`` subprocess."""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections import defaultdict

import pytest

from tests.integration.tail.test_harness import (
    DaemonProc,
    _shared_daemon,
    daemon,
    own_daemon,
    tail_cli,
    tmp,
    wait_for,
)
from tests.integration.tail.test_rotation import Writer

__all__ = ["_shared_daemon", "daemon", "own_daemon", "tmp"]


class Writers(threading.Thread):
    """Three logs written at ~1,000 lines/s; a.log rotates by rename, b.log by copytruncate."""

    def __init__(self, logs: str, seed: int) -> None:
        super().__init__(daemon=True)
        self.rng = random.Random(seed)
        self.w = {n: Writer(os.path.join(logs, f"{n}.log"), keep=6, tag=n) for n in "abc"}
        self.stop_flag = threading.Event()
        self.rotations = {"a": 0, "b": 0}

    def run(self) -> None:
        while not self.stop_flag.is_set():
            name = self.rng.choice("abc")
            w = self.w[name]
            w.write(self.rng.randint(1, 20))
            if name != "c" and w.n // 1500 > self.rotations[name]:
                self.rotations[name] += 1
                (w.rotate_rename if name == "a" else w.rotate_copytruncate)()
            time.sleep(0.01)

    def finish(self) -> dict[str, list[str]]:
        self.stop_flag.set()
        self.join()
        for w in self.w.values():
            w.close()
        return {name: w.lines for name, w in self.w.items()}


def check(daemon: DaemonProc, expected: dict[str, list[str]]) -> None:
    total = sum(len(v) for v in expected.values())
    wait_for(lambda: len(daemon.messages()) >= total, 60)
    time.sleep(0.5)
    got = daemon.messages()
    assert len(got) == len(set(got)), f"{len(got) - len(set(got))} lines stored twice"
    by_file: dict[str, list[str]] = defaultdict(list)
    for m in got:
        by_file[m[0]].append(m)
    for name, lines in expected.items():
        assert by_file[name] == lines, f"{name}.log differs (lost or out of order)"


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_kill9_of_tailer_and_daemon_at_random_points(
    tmp: str, own_daemon: DaemonProc, mode: str
) -> None:
    """Six rounds: run the tailer a random while, then SIGKILL it, the daemon, or both;
    restart; at the end every line is stored once."""
    daemon = own_daemon
    rng = random.Random(20261128 + (mode == "poll"))
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    writers = Writers(logs, seed=rng.randint(0, 10**6))
    ckpt = os.path.join(tmp, "ckpt.json")
    extra = ["--poll", "--poll-interval", "0.05"] if mode == "poll" else []
    extra += ["--from-beginning"]
    writers.start()
    kills = defaultdict(int)
    try:
        for _ in range(6):
            proc = tail_cli([logs], daemon.sock, ckpt, *extra)
            time.sleep(rng.uniform(0.3, 1.2))
            victim = rng.choice(["tailer", "daemon", "both"])
            if victim in ("daemon", "both"):
                daemon.kill()
                kills["daemon"] += 1
            if victim in ("tailer", "both"):
                proc.send_signal(signal.SIGKILL)
                kills["tailer"] += 1
            if victim == "daemon":
                time.sleep(rng.uniform(0.0, 0.5))
                daemon.start()
                time.sleep(rng.uniform(0.2, 0.6))
                proc.send_signal(signal.SIGKILL)  # and the tailer too, mid-reconnect
                kills["tailer"] += 1
            proc.wait()
            if daemon.proc is None:
                daemon.start()
        expected = writers.finish()
        final = tail_cli([logs], daemon.sock, ckpt, *extra)
        try:
            check(daemon, expected)
        finally:
            final.send_signal(signal.SIGTERM)
            final.wait(20)
    finally:
        writers.stop_flag.set()
    assert kills["tailer"] >= 3

"""A seeded random sequence of writes, rename and copytruncate rotations, truncations,
deletions, tailer restarts (graceful and kill -9) and daemon kills, checked against an
in-memory model of what the store must hold - in the spirit of Vector's file-source model
tests. Destructive steps (truncate, delete) first wait until the store has caught up, so the
model knows exactly which lines they may take with them: none."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

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

__all__ = ["_shared_daemon", "daemon", "own_daemon", "tmp"]

STEPS = 40
OPS = ["write"] * 8 + ["rename", "copytruncate", "truncate", "delete", "restart", "kill9",
                       "daemon", "idle"]  # fmt: skip


class Model:
    """The files on disk and the lines the store must end up holding, per file."""

    def __init__(self, logs: str, rng: random.Random) -> None:
        self.logs = logs
        self.rng = rng
        self.expected: dict[str, list[str]] = {"a": [], "b": [], "c": []}
        self.count = 0

    def path(self, name: str) -> str:
        return os.path.join(self.logs, f"{name}.log")

    def write(self, name: str) -> None:
        with open(self.path(name), "a") as f:
            for _ in range(self.rng.choice([1, 5, 50, 400])):
                line = f"{name}{len(self.expected[name]):06d} " + "x" * self.rng.randint(0, 80)
                f.write(line + "\n")
                self.expected[name].append(line)
                self.count += 1

    def rotated(self, name: str) -> list[str]:
        base = f"{name}.log."
        return sorted(p for p in os.listdir(self.logs) if p.startswith(base))

    def rename(self, name: str) -> None:
        if not os.path.exists(self.path(name)):
            return
        for old in sorted(self.rotated(name), key=lambda p: -int(p.rsplit(".", 1)[1])):
            n = int(old.rsplit(".", 1)[1])
            os.rename(os.path.join(self.logs, old), f"{self.path(name)}.{n + 1}")
        os.rename(self.path(name), f"{self.path(name)}.1")

    def copytruncate(self, name: str) -> None:
        if not os.path.exists(self.path(name)):
            return
        for old in sorted(self.rotated(name), key=lambda p: -int(p.rsplit(".", 1)[1])):
            n = int(old.rsplit(".", 1)[1])
            os.rename(os.path.join(self.logs, old), f"{self.path(name)}.{n + 1}")
        with open(self.path(name), "rb") as src, open(f"{self.path(name)}.1", "wb") as dst:
            dst.write(src.read())
        os.truncate(self.path(name), 0)


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_random_operations_against_a_model(tmp: str, own_daemon: DaemonProc, mode: str) -> None:
    """40 random steps; at the end the store holds exactly the model's lines, in order."""
    daemon = own_daemon
    rng = random.Random(4242 if mode == "events" else 2424)
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    model = Model(logs, rng)
    ckpt = os.path.join(tmp, "ckpt.json")
    extra = ["--from-beginning"] + (["--poll", "--poll-interval", "0.05"] if mode == "poll" else [])

    def caught_up() -> None:
        wait_for(lambda: len(daemon.messages()) >= model.count, 60)

    proc: subprocess.Popen[bytes] = tail_cli([logs], daemon.sock, ckpt, *extra)
    steps: list[str] = []
    try:
        for _ in range(STEPS):
            op = rng.choice(OPS)
            name = rng.choice("abc")
            steps.append(f"{op}:{name}")
            if op == "write":
                model.write(name)
            elif op == "rename":
                model.rename(name)
            elif op == "copytruncate":
                model.copytruncate(name)
            elif op == "truncate" and os.path.exists(model.path(name)):
                caught_up()
                os.truncate(model.path(name), 0)
            elif op == "delete":
                caught_up()
                victims = model.rotated(name)
                if victims:
                    os.unlink(os.path.join(logs, rng.choice(victims)))
            elif op in ("restart", "kill9"):
                proc.send_signal(signal.SIGTERM if op == "restart" else signal.SIGKILL)
                proc.wait(30)
                proc = tail_cli([logs], daemon.sock, ckpt, *extra)
            elif op == "daemon":
                daemon.kill()
                daemon.start()
            else:
                time.sleep(rng.uniform(0.05, 0.3))
        caught_up()
        time.sleep(0.5)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
    got = daemon.messages()
    assert len(got) == len(set(got)), f"stored twice; steps: {steps}"
    for name, lines in model.expected.items():
        mine = [m for m in got if m[0] == name]
        assert mine == lines, f"{name}.log: lost or out of order; steps: {steps}"

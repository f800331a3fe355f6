"""End-to-end behaviours of the tailer against a real daemon: 1,000 files, binary garbage,
partial and over-long lines, multiline events, backpressure, labels, restarts over a
truncated or re-created file, a file renamed away with unread lines, the daemon adapter, and
the polling fallback when watchdog is missing."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from logmarket.tail import PathRule
from tests.integration.tail.test_harness import (
    ROOT,
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


def _append(path: str, data: str | bytes) -> None:
    with open(path, "ab") as f:
        f.write(data.encode() if isinstance(data, str) else data)


@pytest.mark.parametrize("mode", MODES)
def test_a_thousand_files(tmp: str, daemon: DaemonProc, mode: str) -> None:
    """1,000 files in 20 directories, present at start and written after: every line once."""
    root = os.path.join(tmp, "logs")
    paths = []
    for i in range(1000):
        d = os.path.join(root, f"d{i % 20}")
        os.makedirs(d, exist_ok=True)
        paths.append(os.path.join(d, f"f{i}.log"))
        _append(paths[-1], f"f{i}-0\n")
    t = TailThread(config(tmp, daemon, [root], mode=mode, from_beginning=True)).start()
    try:
        for n in (1, 2):
            for i, p in enumerate(paths):
                _append(p, f"f{i}-{n}\n")
        wait_for(lambda: len(daemon.messages()) >= 3000, 60)
        time.sleep(0.3)
    finally:
        t.stop()
    got = daemon.messages()
    assert sorted(got) == sorted(f"f{i}-{n}" for i in range(1000) for n in range(3))
    for i in (0, 499, 999):
        assert [m for m in got if m.startswith(f"f{i}-")] == [f"f{i}-{n}" for n in range(3)]


@pytest.mark.parametrize("mode", MODES)
def test_binary_garbage_and_over_long_lines(tmp: str, daemon: DaemonProc, mode: str) -> None:
    """Random bytes, invalid UTF-8, NULs and a 200 KB line: nothing lost, nothing crashes;
    invalid bytes are replaced and flagged, the long line is split into marked pieces."""
    rng = random.Random(7)
    path = os.path.join(tmp, "garbage.log")
    chunks = [bytes(rng.randrange(256) for _ in range(rng.randint(0, 300))) for _ in range(200)]
    data = b"\n".join(chunks) + b"\n" + b"y" * 200_000 + b"\nlast line\n"
    _append(path, b"")
    cfg = config(tmp, daemon, [path], mode=mode, from_beginning=True, multiline=False)
    t = TailThread(cfg).start()
    try:
        _append(path, data)
        wait_for(lambda: daemon.messages()[-1:] == ["last line"], 60)
    finally:
        t.stop()
    recs = daemon.stored()
    lines: list[str] = []
    pending = ""
    for r in recs:
        pending += r["message"]
        if not r.get("split"):
            lines.append(pending)
            pending = ""
    raw = [c.rstrip(b"\r") for c in data.split(b"\n")[:-1]]
    assert lines == [c.decode("utf-8", "replace") for c in raw]
    invalid = {i for i, c in enumerate(raw) if c.decode("utf-8", "replace").encode() != c}
    assert {i for i, r in enumerate(recs) if r.get("invalidUtf8")} == invalid
    pieces = [r for r in recs if r["message"].startswith("y" * 1000)]
    assert len(pieces) == 4 and all(p.get("split") for p in pieces[:-1])
    assert t.tailer.stats["records_read"] == len(recs)
    assert t.tailer.stats["records_invalid_utf8"] == len(invalid)
    assert t.tailer.stats["records_split"] == 3


def test_partial_line_waits_for_its_newline(tmp: str, daemon: DaemonProc) -> None:
    """A last line without newline is held for the flush timeout, then sent marked
    partial; what follows is its own record."""
    path = os.path.join(tmp, "p.log")
    _append(path, "")
    cfg = config(tmp, daemon, [path], flush_timeout=1.0, from_beginning=True, multiline=False)
    t = TailThread(cfg).start()
    try:
        _append(path, "whole\nhalf")
        wait_for(lambda: daemon.messages() == ["whole"])
        time.sleep(0.4)
        assert daemon.messages() == ["whole"]  # still waiting for the newline
        wait_for(lambda: len(daemon.messages()) == 2, 5)
        _append(path, " more\n")
        wait_for(lambda: len(daemon.messages()) == 3, 5)
    finally:
        t.stop()
    recs = daemon.stored()
    assert [(r["message"], r.get("partial")) for r in recs] == [
        ("whole", None),
        ("half", True),
        (" more", None),
    ]


def test_multiline_events_arrive_as_one_record(tmp: str, daemon: DaemonProc) -> None:
    """A traceback written line by line becomes one record, held until the next event."""
    path = os.path.join(tmp, "app.log")
    _append(path, "")
    t = TailThread(config(tmp, daemon, [path], from_beginning=True, flush_timeout=2.0)).start()
    tb = (
        "ERROR failed\nTraceback (most recent call last):\n"
        '  File "a.py", line 1, in <module>\nZeroDivisionError: division by zero\n'
    )
    try:
        for line in tb.splitlines(keepends=True):
            _append(path, line)
            time.sleep(0.05)
        _append(path, "INFO next\n")
        wait_for(lambda: len(daemon.messages()) == 2)
    finally:
        t.stop()
    assert daemon.messages() == [tb.rstrip("\n"), "INFO next"]


def test_backpressure_reads_no_further_than_the_window(tmp: str, own_daemon: DaemonProc) -> None:
    """With the daemon gone the tailer stops reading (memory bounded by the window of
    unacknowledged batches); once it is back, everything arrives exactly once."""
    daemon = own_daemon
    path = os.path.join(tmp, "big.log")
    _append(path, "")
    cfg = config(tmp, daemon, [path], from_beginning=True, batch_records=500, max_in_flight=4)
    t = TailThread(cfg).start()
    try:
        _append(path, "warm-up\n")
        wait_for(lambda: daemon.messages() == ["warm-up"])
        daemon.kill()
        lines = [f"line {i:06d} " + "z" * 40 for i in range(40_000)]
        _append(path, "\n".join(lines) + "\n")
        time.sleep(1.5)
        read = t.tailer.stats["records_read"]
        assert read <= 1 + cfg.max_in_flight * cfg.batch_records, read
        daemon.start()
        wait_for(lambda: len(daemon.messages()) >= 40_001, 60)
        time.sleep(0.3)
    finally:
        t.stop()
    assert daemon.messages() == ["warm-up", *lines]


def test_labels_from_file_names_and_rules(tmp: str, daemon: DaemonProc) -> None:
    """Source from the file name (the seed's detectSource) or a rule; Sub-PKP per rule."""
    d = os.path.join(tmp, "w")
    os.makedirs(os.path.join(d, "team"))
    names = ["build-7.log", "unit-test.log", "deploy.log", "app.log", "team/svc.log"]
    rules = (PathRule("*/team/*", source="deploy", sub_pkp_id="alice"),)
    cfg = config(tmp, daemon, [d], from_beginning=True, rules=rules, sub_pkp_id="bob")
    t = TailThread(cfg).start()
    try:
        for n in names:
            _append(os.path.join(d, n), f"{n}\n")
        wait_for(lambda: len(daemon.messages()) == 5)
    finally:
        t.stop()
    got = {r["message"]: (r["source"], r["subPKPId"], r["stream"]) for r in daemon.stored()}
    assert got == {
        "build-7.log": ("build", "bob", os.path.join(d, "build-7.log")),
        "unit-test.log": ("test", "bob", os.path.join(d, "unit-test.log")),
        "deploy.log": ("deploy", "bob", os.path.join(d, "deploy.log")),
        "app.log": ("runtime", "bob", os.path.join(d, "app.log")),
        "team/svc.log": ("deploy", "alice", os.path.join(d, "team", "svc.log")),
    }


@pytest.mark.parametrize("mode", MODES)
def test_restart_over_truncated_and_recreated_files(
    tmp: str, daemon: DaemonProc, mode: str
) -> None:
    """While the tailer is stopped, one file is truncated to fewer bytes than its saved
    offset and another deleted and re-created (its inode likely reused): the saved offsets
    are not trusted, both new contents arrive whole, nothing is repeated."""
    d = os.path.join(tmp, "w")
    os.makedirs(d)
    a, b = os.path.join(d, "a.log"), os.path.join(d, "b.log")
    _append(a, "a1 long enough line to be past the new end\na2\n")
    _append(b, "b1\nb2\n")
    cfg = config(tmp, daemon, [d], mode=mode, from_beginning=True)
    t = TailThread(cfg).start()
    wait_for(lambda: len(daemon.messages()) == 4)
    t.stop()
    with open(a, "w") as f:
        f.write("A1\n")
    os.unlink(b)
    with open(b, "w") as f:
        f.write("B1 different\nB2\n")
    t = TailThread(cfg).start()
    try:
        wait_for(lambda: len(daemon.messages()) >= 7)
        time.sleep(0.5)
    finally:
        t.stop()
    got = daemon.messages()
    assert sorted(got) == sorted(["a1 long enough line to be past the new end", "a2", "b1",
                                  "b2", "A1", "B1 different", "B2"])  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_file_renamed_away_with_unread_lines_is_read_to_its_end(
    tmp: str, own_daemon: DaemonProc, mode: str
) -> None:
    """Tailing one path: the file is renamed out of the watched set while lines are still
    unread (the daemon was down); they are read through the open descriptor, to the end."""
    daemon = own_daemon
    path = os.path.join(tmp, "only.log")
    _append(path, "first\n")
    t = TailThread(config(tmp, daemon, [path], mode=mode, from_beginning=True)).start()
    try:
        wait_for(lambda: daemon.messages() == ["first"])
        daemon.kill()
        old = [f"old {i}" for i in range(5000)]
        _append(path, "\n".join(old) + "\n")
        os.rename(path, os.path.join(tmp, "only.old"))
        _append(path, "new 1\n")
        time.sleep(0.3)
        daemon.start()
        wait_for(lambda: len(daemon.messages()) >= 5002, 30)
        time.sleep(0.3)
    finally:
        t.stop()
    assert daemon.messages() == ["first", *old, "new 1"]


def test_daemon_adapter_tails_into_the_daemon(tmp: str, daemon: DaemonProc) -> None:
    """start_watchers() runs a tailer thread with its checkpoint in the state directory."""
    from logmarketd.ingest.watch import start_watchers

    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    _append(os.path.join(logs, "deploy-1.log"), "before\n")
    state = os.path.join(tmp, "wstate")
    h = start_watchers([logs], daemon.sock, state, from_beginning=True, flush_timeout=0.2,
                       rules=["*/logs/*=,carol"])  # fmt: skip
    try:
        _append(os.path.join(logs, "deploy-1.log"), "after\n")
        wait_for(lambda: len(daemon.messages()) == 2)
    finally:
        h.stop()
    assert h.error is None
    assert os.path.exists(os.path.join(state, "tail-checkpoint.json"))
    recs = daemon.stored()
    assert [(r["message"], r["source"], r["subPKPId"]) for r in recs] == [
        ("before", "deploy", "carol"),
        ("after", "deploy", "carol"),
    ]


def test_polling_fallback_without_watchdog(tmp: str, daemon: DaemonProc) -> None:
    """With watchdog not importable, ``logmarket tail`` polls, and still ships every line."""
    fake = os.path.join(tmp, "nowatchdog", "watchdog")
    os.makedirs(fake)
    with open(os.path.join(fake, "__init__.py"), "w") as f:
        f.write("raise ImportError('watchdog is not installed')\n")
    path = os.path.join(tmp, "app.log")
    _append(path, "one\n")
    env = {**os.environ, "PYTHONPATH": f"{os.path.dirname(fake)}:{ROOT / 'src'}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "logmarket.cli", "tail", path, "--socket", daemon.sock,
         "--checkpoint", os.path.join(tmp, "c.json"), "--from-beginning",
         "--poll-interval", "0.1"],
        env=env, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        wait_for(lambda: daemon.messages() == ["one"], 20)
        _append(path, "two\n")
        wait_for(lambda: daemon.messages() == ["one", "two"], 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err
    assert b"'scans'" in err

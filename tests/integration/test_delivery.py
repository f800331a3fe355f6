"""End to end: applications configured only through logging config, a real daemon process,
the real socket and the real SQLite file. Every record arrives exactly once."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import (
    DaemonProcess,
    counters,
    run_app,
    stored_messages,
    stored_records,
    wait_for,
)

APP_HEADER = """
import logging, logging.config, os, sys, time
logging.config.dictConfig({
    "version": 1,
    "handlers": {"lm": {"class": "logmarket.Handler", "flush_timeout": 60,
                        "capacity": int(os.environ.get("CAP", "100000"))}},
    "root": {"level": "INFO", "handlers": ["lm"]},
})
log = logging.getLogger("app")
"""


def app_env(d: DaemonProcess, **extra: str) -> dict[str, str]:
    return {"LOGMARKET_SOCKET": str(d.socket), "LOGMARKET_SUB_PKP_ID": "alice", **extra}


def assert_exactly_once(db: Path, expected: list[str]) -> None:
    got = stored_messages(db)
    dupes = [m for m, n in collections.Counter(got).items() if n > 1]
    assert not dupes, f"{len(dupes)} duplicated, e.g. {dupes[:3]}"
    missing = set(expected) - set(got)
    assert not missing, f"{len(missing)} missing, e.g. {sorted(missing)[:3]}"
    assert len(got) == len(expected)


def test_100k_records_from_dictconfig_app_all_arrive(daemon: DaemonProcess) -> None:
    """An app set up only via dictConfig sends 100k records; every one is stored once."""
    code = APP_HEADER + "for i in range(100_000):\n    log.info('msg-%d', i)\n"
    result = run_app(code, app_env(daemon))
    assert result.returncode == 0, result.stderr
    assert_exactly_once(daemon.db, [f"msg-{i}" for i in range(100_000)])
    rec = stored_records(daemon.db)[0]
    assert rec["logger"] == "app" and rec["level"] == "INFO" and rec["func"] == "<module>"


def test_daemon_sigkilled_mid_stream_then_restarted_stores_each_record_once(
    short_tmp: Path,
) -> None:
    """SIGKILL of the daemon mid-stream, then a restart: resends fill the gap, none twice."""
    d = DaemonProcess(short_tmp).start()
    n = 60_000
    code = APP_HEADER + (
        f"for i in range({n}):\n    log.info('rec-%d', i)\n    if i % 500 == 0: time.sleep(0.02)\n"
    )
    app = subprocess.Popen(
        [sys.executable, "-c", code], env={**__import__("os").environ, **app_env(d)}
    )
    try:
        assert wait_for(lambda: counters(d.db).get("records_stored", 0) > 5_000, 30)
        d.kill(signal.SIGKILL)
        time.sleep(0.5)
        d.start()
        assert app.wait(120) == 0
    finally:
        app.kill()
        d.stop()
    assert_exactly_once(d.db, [f"rec-{i}" for i in range(n)])


def test_daemon_absent_at_app_start_records_delivered_once_it_starts(short_tmp: Path) -> None:
    """Records logged while no daemon exists are delivered when it comes up."""
    d = DaemonProcess(short_tmp)
    marker = short_tmp / "logged"
    code = APP_HEADER + (
        "for i in range(5000):\n    log.info('early-%d', i)\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "assert log.root.handlers[0].flush(60)\n"
    )
    app = subprocess.Popen(
        [sys.executable, "-c", code], env={**__import__("os").environ, **app_env(d)}
    )
    try:
        assert wait_for(marker.exists, 30)
        time.sleep(0.3)
        d.start()
        assert app.wait(90) == 0
    finally:
        app.kill()
        d.stop()
    assert_exactly_once(d.db, [f"early-{i}" for i in range(5000)])


def test_overflow_while_daemon_absent_is_dropped_counted_and_reported(short_tmp: Path) -> None:
    """A full queue drops new records (never blocks) and the daemon learns the count."""
    d = DaemonProcess(short_tmp)
    marker = short_tmp / "logged"
    code = APP_HEADER + (
        "for i in range(3000):\n    log.info('o-%d', i)\n"
        f"open({str(marker)!r}, 'w').close()\n"
        "h = log.root.handlers[0]\n"
        "assert h.flush(60)\n"
        "print(h.dropped)\n"
    )
    app = subprocess.Popen(
        [sys.executable, "-c", code],
        env={**__import__("os").environ, **app_env(d, CAP="1000")},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(marker.exists, 30)
        d.start()
        out, _ = app.communicate(timeout=90)
    finally:
        app.kill()
        d.stop()
    assert app.returncode == 0
    dropped = int(out.strip())
    stored = stored_messages(d.db)
    assert dropped == 2000 and len(stored) == 1000
    assert stored == [f"o-{i}" for i in range(1000)]  # oldest kept, newest dropped
    assert counters(d.db)["client_dropped"] == 2000


@pytest.mark.parametrize(
    ("ending", "code"),
    [("normal", ""), ("sys.exit", "sys.exit(3)"), ("exception", "raise RuntimeError('boom')")],
)
def test_records_flushed_when_app_exits(daemon: DaemonProcess, ending: str, code: str) -> None:
    """Normal exit, sys.exit and an unhandled exception all flush what was logged."""
    app = APP_HEADER + "for i in range(2000):\n    log.info('e-%d', i)\n" + code + "\n"
    result = run_app(app, app_env(daemon))
    assert result.returncode == {"normal": 0, "sys.exit": 3, "exception": 1}[ending]
    assert_exactly_once(daemon.db, [f"e-{i}" for i in range(2000)])


def test_os_fork_children_log_without_deadlock(daemon: DaemonProcess) -> None:
    """Forking while another thread logs hard: children neither hang nor lose records."""
    code = (
        APP_HEADER
        + """
import threading
stop = False
def spam():
    i = 0
    while not stop:
        log.info('bg-%d', i); i += 1
        if i % 50 == 0: time.sleep(0.001)  # busy, yet below what fills the queue
t = threading.Thread(target=spam); t.start()
for c in range(20):
    pid = os.fork()
    if pid == 0:
        for i in range(50):
            log.info('child%d-%d', c, i)
        sys.exit(0)
    _, status = os.waitpid(pid, 0)
    assert status == 0, status
stop = True; t.join()
for i in range(100):
    log.info('parent-%d', i)
assert log.root.handlers[0].dropped == 0, log.root.handlers[0].dropped
"""
    )
    result = run_app(code, app_env(daemon), timeout=90)
    assert result.returncode == 0, result.stderr
    got = stored_messages(daemon.db)
    expected = [f"child{c}-{i}" for c in range(20) for i in range(50)] + [
        f"parent-{i}" for i in range(100)
    ]
    counts = collections.Counter(got)
    assert all(counts[m] == 1 for m in expected), [m for m in expected if counts[m] != 1][:5]
    bg = [m for m in got if m.startswith("bg-")]
    assert len(bg) == len(set(bg)) and bg  # the parent's own stream: once each


def test_multiprocessing_fork_children_records_arrive(daemon: DaemonProcess) -> None:
    """multiprocessing 'fork' workers skip atexit; their records still arrive."""
    code = (
        APP_HEADER
        + """
import multiprocessing
def work(n):
    for i in range(500):
        logging.getLogger('worker').info('w%d-%d', n, i)
if __name__ == '__main__':
    log.info('before')
    ctx = multiprocessing.get_context('fork')
    procs = [ctx.Process(target=work, args=(n,)) for n in range(4)]
    for p in procs: p.start()
    for p in procs: p.join(60); assert p.exitcode == 0
"""
    )
    result = run_app(code, app_env(daemon), timeout=90)
    assert result.returncode == 0, result.stderr
    expected = ["before"] + [f"w{n}-{i}" for n in range(4) for i in range(500)]
    assert_exactly_once(daemon.db, expected)


def test_structlog_records_keep_their_event_dict(daemon: DaemonProcess) -> None:
    """structlog through its stdlib integration: the event dict travels whole."""
    code = (
        APP_HEADER
        + """
import structlog
structlog.configure(
    processors=[structlog.stdlib.add_log_level,
                structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
    logger_factory=structlog.stdlib.LoggerFactory(),
)
structlog.get_logger('svc').warning('payment failed', order_id=42, amount='9.99')
log.info('plain', extra={'user': 'bob', 'obj': object()})
try:
    1 / 0
except ZeroDivisionError:
    log.exception('crashed')
"""
    )
    result = run_app(code, app_env(daemon))
    assert result.returncode == 0, result.stderr
    recs = {r["message"]: r for r in stored_records(daemon.db)}
    ev = recs["payment failed"]
    assert ev["event"]["order_id"] == 42 and ev["event"]["amount"] == "9.99"
    assert ev["level"] == "WARNING" and ev["logger"] == "svc"
    assert recs["plain"]["extra"]["user"] == "bob"
    assert recs["plain"]["extra"]["obj"].startswith("<object object")
    assert "ZeroDivisionError" in recs["crashed"]["exc"]

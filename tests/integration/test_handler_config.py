"""The handler never breaks its host app: a wrong setting (argument, environment or dictConfig
entry) is reported once through ``warnings`` and replaced by its default, at start-up and at exit,
and the records still reach the real daemon."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import logmarket
from logmarket.errors import LogmarketWarning
from tests.conftest import DaemonProcess, stored_messages, wait_for

DICTCONFIG_APP = """
import logging, logging.config
logging.config.dictConfig({{
    "version": 1,
    "handlers": {{"a": {{"class": "logmarket.Handler", {options}}},
                 "b": {{"class": "logmarket.Handler", {options}}}}},
    "root": {{"level": "INFO", "handlers": ["a", "b"]}},
}})
logging.getLogger("app").warning("still logging")
print("app finished")
"""


def run_app(
    code: str, env: dict[str, str], *flags: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        env={**os.environ, **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _inbox(db: Path) -> list[tuple[str, str | None, str | None]]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute("SELECT source, sub_pkp_id, stream FROM inbox ORDER BY id").fetchall()


def _warning_lines(stderr: str, needle: str) -> list[str]:
    return [line for line in stderr.splitlines() if "LogmarketWarning" in line and needle in line]


@pytest.mark.parametrize(("value", "expected"), [("Build", "build"), ("prod", "runtime")])
def test_wrong_source_in_the_environment_warns_once_and_falls_back(
    daemon: DaemonProcess, value: str, expected: str
) -> None:
    """LOGMARKET_SOURCE=Build (or anything unknown) no longer raises at start-up or at exit:
    one warning names the variable, the records are stored under the fallback source."""
    env = {"LOGMARKET_SOCKET": str(daemon.socket), "LOGMARKET_SOURCE": value}
    result = run_app(DICTCONFIG_APP.format(options='"flush_timeout": 30'), env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "app finished" in result.stdout
    warned = _warning_lines(result.stderr, "LOGMARKET_SOURCE")
    assert len(warned) == 1, result.stderr
    assert repr(value) in warned[0] and repr(expected) in warned[0]
    assert wait_for(lambda: len(stored_messages(daemon.db)) == 2)
    assert {row[0] for row in _inbox(daemon.db)} == {expected}


BAD_OPTIONS = {
    "source": ('"source": "prod"', "source='prod'"),
    "sub_pkp_id": ('"sub_pkp_id": "' + "p" * 300 + '"', "sub_pkp_id"),
    "sub_pkp_id_type": ('"sub_pkp_id": 42', "sub_pkp_id=42"),
    "socket_too_long": ('"socket_path": "/tmp/' + "s" * 200 + '"', "socket_path"),
    "socket_nul": ('"socket_path": "/tmp/a\\u0000b"', "socket_path"),
    "stream": ('"stream": ["not", "text"]', "stream"),
    "capacity": ('"capacity": "many"', "capacity='many'"),
    "batch_size": ('"batch_size": 0', "batch_size=0"),
    "flush_timeout": ('"flush_timeout": -1', "flush_timeout=-1"),
    "unknown": ('"sokcet_path": "/tmp/x.sock"', "sokcet_path"),
}


@pytest.mark.parametrize("case", sorted(BAD_OPTIONS))
def test_a_bad_dictconfig_option_warns_once_and_the_records_still_arrive(
    daemon: DaemonProcess, case: str
) -> None:
    """Each bad option falls back to its default (the socket to LOGMARKET_SOCKET, the Sub-PKP to
    LOGMARKET_SUB_PKP_ID or none), with one warning for the two handlers that share it."""
    options, needle = BAD_OPTIONS[case]
    env = {"LOGMARKET_SOCKET": str(daemon.socket)}
    result = run_app(DICTCONFIG_APP.format(options=options), env)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert len(_warning_lines(result.stderr, needle)) == 1, result.stderr
    assert wait_for(lambda: len(stored_messages(daemon.db)) == 2), result.stderr
    assert stored_messages(daemon.db) == ["still logging", "still logging"]
    assert all(row == ("runtime", None, None) for row in _inbox(daemon.db))


def test_bad_environment_socket_and_sub_pkp_fall_back_to_the_defaults(short_tmp: Path) -> None:
    """A LOGMARKET_SOCKET too long for a Unix socket falls back to ./.logmarket/logmarketd.sock
    (where this daemon listens), a LOGMARKET_SUB_PKP_ID over 256 characters to none."""
    d = DaemonProcess(short_tmp)
    d.socket = short_tmp / ".logmarket" / "logmarketd.sock"
    d.start()
    try:
        code = (
            "import logging, logmarket\n"
            "logmarket.install()\n"
            "logging.getLogger('app').warning('from the default socket')\n"
        )
        env = {"LOGMARKET_SOCKET": "/tmp/" + "x" * 300, "LOGMARKET_SUB_PKP_ID": "q" * 257}
        result = run_app(code, env, cwd=short_tmp)
        assert result.returncode == 0, result.stderr
        assert len(_warning_lines(result.stderr, "LOGMARKET_SOCKET")) == 1, result.stderr
        assert len(_warning_lines(result.stderr, "LOGMARKET_SUB_PKP_ID")) == 1, result.stderr
        assert wait_for(lambda: stored_messages(d.db) == ["from the default socket"])
        assert _inbox(d.db) == [("runtime", None, None)]
    finally:
        d.stop()


def test_warnings_turned_into_errors_still_do_not_raise(daemon: DaemonProcess) -> None:
    """An app run with ``-W error`` gets the message on stderr instead of an exception, from
    Handler(), install() with a bad level and a bad logger, and at exit."""
    code = (
        "import logging, logmarket\n"
        "logmarket.Handler(source='Deploy')\n"
        "logmarket.Handler(level='LOUD', socket_path=7).close()\n"
        "h = logmarket.install(logger=42, level='chatty', capacity=-5)\n"
        "logging.getLogger('app').warning('with warnings as errors')\n"
        "print(h.source, h.capacity, logging.getLogger().level)\n"
    )
    result = run_app(code, {"LOGMARKET_SOCKET": str(daemon.socket)}, "-W", "error")
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stdout.split() == ["runtime", "100000", str(logging.INFO)]
    needles = ("source='Deploy'", "level='LOUD'", "socket_path=7", "logger=42", "level='chatty'",
               "capacity=-5")  # fmt: skip
    for needle in needles:
        assert len(_warning_lines(result.stderr, needle)) == 1, (needle, result.stderr)
    assert wait_for(lambda: stored_messages(daemon.db) == ["with warnings as errors"])


def test_in_process_a_bad_option_is_a_logmarket_warning(tmp_path: Path) -> None:
    """The warning is a ``LogmarketWarning`` (a ``UserWarning``) an app can filter."""
    with pytest.warns(LogmarketWarning, match="max_in_flight='eight'"):
        handler = logmarket.Handler(socket_path=str(tmp_path / "s"), max_in_flight="eight")  # type: ignore[arg-type]
    try:
        assert handler.max_in_flight == 8
        assert issubclass(LogmarketWarning, UserWarning)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            # The same problem again is not reported again.
            logmarket.Handler(socket_path=str(tmp_path / "s"), max_in_flight="eight").close()  # type: ignore[arg-type]
    finally:
        handler.close()

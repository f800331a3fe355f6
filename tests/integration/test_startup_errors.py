"""A daemon that cannot start says why in one line on stderr and exits 1: no traceback, and
nothing of what it had started left behind (its socket file removed, its store closed).

Each case runs the real ``logmarketd`` in a subprocess against a real state directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, free_port


def _env() -> dict[str, str]:
    """The test's environment without settings or service-manager variables of its own."""
    prefixes = ("LOGMARKET_", "LISTEN_", "NOTIFY_SOCKET", "WATCHDOG_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env["LOGMARKET_LOG_FORMAT"] = "json"
    return env


def _fails(argv: list[str]) -> str:
    """Run the daemon; it must exit 1 with exactly one line on stderr, the startup error."""
    result = subprocess.run(argv, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, (result.returncode, result.stderr[-3000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    line = json.loads(lines[0])
    assert line["event"] == "startup failed" and line["level"] == "error", line
    return str(line["error"])


def _wal(d: DaemonProcess) -> Path:
    return d.db.with_name(d.db.name + "-wal")


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (bytes(range(256)) * 2, "not a hex redaction key"),
        (b"this is not hex at all\n", "not a hex redaction key"),
        (b"00ff00ff\n", "shorter than 16 bytes"),
    ],
    ids=["binary", "text", "short"],
)
def test_a_bad_redaction_key_is_one_line_and_kept(
    short_tmp: Path, content: bytes, said: str
) -> None:
    """A damaged ``redaction.key`` stops startup with what to do; the file is not replaced
    (placeholders already stored were made with the key it held)."""
    d = DaemonProcess(short_tmp, marketplace=True)
    d.state_dir.mkdir(mode=0o700)
    key = d.state_dir / "redaction.key"
    key.write_bytes(content)
    error = _fails(d.command())
    assert str(key) in error and said in error and "move it aside" in error, error
    assert key.read_bytes() == content
    assert not d.socket.exists()


def test_a_bad_ledger_key_is_one_line_and_kept(short_tmp: Path) -> None:
    """A damaged ``ledger.key`` stops startup; the file is not replaced (every signature in
    the ledger was made with it)."""
    d = DaemonProcess(short_tmp, marketplace=True)
    d.state_dir.mkdir(mode=0o700)
    key = d.state_dir / "ledger.key"
    key.write_bytes(b"-----BEGIN PRIVATE KEY-----\nbroken\n-----END PRIVATE KEY-----\n")
    content = key.read_bytes()
    error = _fails(d.command())
    assert str(key) in error and "not a PEM Ed25519 ledger key" in error, error
    assert "restore it from a backup" in error, error
    assert key.read_bytes() == content
    assert not d.socket.exists()


def test_an_unwritable_state_directory_is_one_line(short_tmp: Path) -> None:
    """The state directory exists but the daemon may not write in it."""
    d = DaemonProcess(short_tmp)
    d.state_dir.mkdir(mode=0o500)
    argv = d.command()
    if os.geteuid() == 0:
        # Root writes anywhere: run it without the capabilities that let it.
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and no setpriv to drop CAP_DAC_OVERRIDE")
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *argv]
    error = _fails(argv)
    assert str(d.state_dir) in error, error
    assert not d.socket.exists()


def test_a_file_where_the_state_directory_goes_is_one_line(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp)
    d.root.mkdir(exist_ok=True)
    d.state_dir.write_text("not a directory\n")
    error = _fails(d.command())
    assert "cannot create the state directory" in error and str(d.state_dir) in error, error


def test_a_socket_path_under_a_file_is_one_line(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp)
    (short_tmp / "plain").write_text("a file\n")
    d.socket = short_tmp / "plain" / "d.sock"
    error = _fails(d.command())
    assert str(d.socket) in error, error


def test_a_socket_served_by_a_live_daemon_is_one_line_and_left_to_it(short_tmp: Path) -> None:
    """The second daemon is refused, and neither the first one's socket file nor its
    service is touched by the second one giving up."""
    first = DaemonProcess(short_tmp / "a").start()
    try:
        second = DaemonProcess(short_tmp / "b")
        second.socket = first.socket
        error = _fails(second.command())
        assert "another logmarketd is already serving" in error, error
        assert first.socket.is_socket() and first.healthy()
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(first.socket))
    finally:
        first.stop()


def test_a_damaged_store_is_one_line(short_tmp: Path) -> None:
    d = DaemonProcess(short_tmp)
    d.state_dir.mkdir(mode=0o700)
    d.db.write_bytes(b"this is not a database" * 100)
    error = _fails(d.command())
    assert "cannot be used" in error and "move it aside" in error, error
    assert not d.socket.exists()


def test_a_failure_after_ingest_started_unwinds_everything(short_tmp: Path) -> None:
    """The HTTP port is taken: by then the store is open, the socket bound and the stages
    running. All of it is undone: the socket file is gone and the store closed cleanly (its
    write-ahead log checkpointed and removed, as only a closed store's is)."""
    taken = socket.create_server(("127.0.0.1", 0))
    try:
        d = DaemonProcess(short_tmp, marketplace=True)
        d.port = taken.getsockname()[1]
        error = _fails(d.command())
    finally:
        taken.close()
    assert "cannot listen for HTTP" in error, error
    assert d.db.exists() and not _wal(d).exists()
    assert not d.socket.exists()
    # And the next start, with the port free, serves.
    d.port = free_port()
    d.start()
    d.stop()

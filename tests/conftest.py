"""Shared test helpers: a real daemon in a subprocess, short socket paths, store readers."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

import logmarket.handler
from tests.rawclient import raw  # noqa: F401  (the raw-protocol client fixture)

# Property tests draw the same examples on every run ("ci", the default), so a run's result
# says something about the code, not the draw; HYPOTHESIS_PROFILE=explore draws anew each run
# to look for counterexamples (add what it finds as an explicit example).
hypothesis_settings.register_profile("ci", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

REPO = Path(__file__).resolve().parent.parent
INTEGRATION = Path(__file__).resolve().parent / "integration"


@pytest.hookimpl(tryfirst=True)  # before ``-m`` deselects by marker
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under ``tests/integration/`` (a real daemon, the CLI or a tool in a
    subprocess) is ``slow``: ``pytest -m "not slow"`` is the fast loop."""
    for item in items:
        if item.path.is_relative_to(INTEGRATION):
            item.add_marker(pytest.mark.slow)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return bool(predicate())


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """One HTTP request; JSON in and (when the answer is JSON) out."""
    data = (
        None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
    )
    req = urllib.request.Request(url, data=data, method=method, headers=dict(headers or {}))
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, raw, ctype = resp.status, resp.read(), resp.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, ctype = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    return status, (json.loads(raw) if "json" in ctype and raw else raw)


def http_get(url: str, timeout: float = 5.0, token: str | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class DaemonProcess:
    """``logmarketd`` as a real subprocess on a short socket path and a free loopback port."""

    def __init__(self, root: Path, *extra: str, marketplace: bool = False) -> None:
        """``marketplace=False``: ingest and store only (LOG_MARKETPLACE_ENABLED off), so
        records stay in the inbox for delivery tests to read."""
        self.root = root
        self.state_dir = root / "state"
        self.socket = root / "d.sock"
        self.port = free_port()
        self.extra = list(extra) + ([] if marketplace else ["--no-log-marketplace-enabled"])
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = root / "daemon.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.state_dir / "logmarket.db"

    @property
    def admin_token(self) -> str:
        """The token the daemon generated at its first start."""
        return (self.state_dir / "admin.token").read_text().strip()

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "logmarketd",
            "--state-dir", str(self.state_dir),
            "--socket", str(self.socket),
            "--http", f"127.0.0.1:{self.port}",
            *self.extra,
        ]  # fmt: skip

    def start(self, wait: bool = True) -> DaemonProcess:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        if wait and not wait_for(self.healthy, 20):
            self.stop()
            raise RuntimeError(f"daemon did not start:\n{self.log.read_text()}")
        return self

    def healthy(self) -> bool:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"daemon exited {self.proc.returncode}:\n{self.log.read_text()}")
        try:
            return http_get(self.url + "/healthz", timeout=1)[0] == 200
        except OSError:
            return False

    def kill(self, sig: int = signal.SIGKILL) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        code = self.proc.wait(30)
        self.proc = None
        return code

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.kill(signal.SIGTERM)
        self.proc = None

    def make_key(self, sub_pkp_id: str) -> str:
        """A Sub-PKP key made by the real ``logmarket keys create`` (the only way a socket
        connection's records credit an account)."""
        out = subprocess.run(
            [sys.executable, "-m", "logmarket.cli", "keys", "create", sub_pkp_id,
             "--state-dir", str(self.state_dir)],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        return out.stdout.strip()

    def metrics(self) -> dict[str, float]:
        _, body = http_get(self.url + "/metrics")
        out: dict[str, float] = {}
        for line in body.decode().splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A temporary directory with a short path (Unix socket paths are limited to 107 bytes)."""
    path = Path(tempfile.mkdtemp(prefix="lm", dir="/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def daemon(short_tmp: Path) -> Iterator[DaemonProcess]:
    d = DaemonProcess(short_tmp).start()
    try:
        yield d
    finally:
        d.stop()


def stored_records(db: Path) -> list[dict[str, Any]]:
    """Every record in the inbox, in commit order (read from the real SQLite file)."""
    out: list[dict[str, Any]] = []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for (frame,) in conn.execute("SELECT frame FROM inbox ORDER BY id"):
            obj = json.loads(frame)
            if obj.get("type") == "batch":
                out.extend(obj["records"])
            else:
                out.append(obj)
    return out


def stored_messages(db: Path) -> list[str]:
    return [r["message"] for r in stored_records(db)]


def counters(db: Path) -> dict[str, int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return dict(conn.execute("SELECT name, value FROM counters").fetchall())


def run_app(
    code: str, env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a Python snippet as an application process."""
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture(autouse=True)
def _no_swallowed_handler_errors() -> Iterator[None]:
    """The handler swallows its own failures to protect apps; tests must see them."""
    yield
    for handler in list(logmarket.handler._live_handlers):
        if handler.internal_errors:
            raise AssertionError(f"handler swallowed: {handler.last_internal_error!r}")


@pytest.fixture
async def server() -> AsyncIterator[Any]:
    """The fake LLM server on 127.0.0.1 (both APIs), for the enrichment tests."""
    from tests.fakes.llm_server import FakeLLMServer

    async with FakeLLMServer() as fake:
        yield fake


@pytest.fixture
def llm_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs read these themselves; nothing leaves 127.0.0.1."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-real-key")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-not-a-real-key")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "ANTHROPIC_AUTH_TOKEN",
                 "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):  # fmt: skip
        monkeypatch.delenv(name, raising=False)

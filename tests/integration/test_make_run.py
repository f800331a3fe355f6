"""`make run` and `make test`, the README's two commands: what they install and run."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, free_port, http_get, wait_for


def test_make_run_serves_healthz_within_10_seconds(short_tmp: Path) -> None:
    """From the repository: make run prints the banner and answers /healthz in under 10 s."""
    port = free_port()
    args = f"--state-dir {short_tmp / 'state'} --http 127.0.0.1:{port}"
    started = time.monotonic()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"ARGS={args}"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "LOGMARKET_LOG_FORMAT": "json"},
    )
    try:
        ok = wait_for(lambda: _healthy(port), timeout=10)
        elapsed = time.monotonic() - started
        assert ok, "no /healthz within 10 s"
        print(f"make run → /healthz in {elapsed:.2f} s")
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert "logmarketd is running" in out
    assert str(short_tmp / "state" / "logmarketd.sock") in out
    assert '"class": "logmarket.Handler"' in out


def _healthy(port: int) -> bool:
    try:
        return http_get(f"http://127.0.0.1:{port}/healthz", timeout=1)[0] == 200
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_make_run_on_a_fresh_venv_installs_no_dev_tools(short_tmp: Path) -> None:
    """`make run` with no venv yet creates one with what running needs (the [all] extra) and
    serves; none of the dev tools (pytest, ruff, mypy, schemathesis) is installed."""
    venv = short_tmp / "venv"
    port = free_port()
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "run", f"VENV={venv}",
         f"ARGS=--state-dir {short_tmp / 'state'} --http 127.0.0.1:{port}"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        ok = wait_for(lambda: _healthy(port) or proc.poll() is not None, timeout=500, interval=0.5)
        assert ok and proc.poll() is None, "make run did not serve"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert "logmarketd is running" in out, out[-3000:]
    assert (venv / ".installed-run").exists() and not (venv / ".installed").exists()
    present = subprocess.run(
        [str(venv / "bin" / "python"), "-c",
         "import importlib.util as u; print([m for m in ('pytest', 'ruff', 'mypy', 'schemathesis',"
         " 'aiohttp', 'watchdog', 'openai') if u.find_spec(m)])"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    assert present == "['aiohttp', 'watchdog', 'openai']", present


def test_make_test_sets_up_the_system_then_installs_the_dev_tools(tmp_path: Path) -> None:
    """What `make test` would run on a fresh machine (make -n): the system packages first, then
    a venv with [all,dev], lint, types, tests; `make run` never asks for the test packages."""
    venv = tmp_path / "venv"

    def plan(target: str) -> str:
        return subprocess.run(["make", "-n", target, f"VENV={venv}"], cwd=REPO,
                              capture_output=True, text=True, check=True).stdout  # fmt: skip

    test = plan("test")
    steps = ["tools/system-deps test", "tools/system-deps run", "-m venv", "'.[all,dev]'",
             "ruff check", "mypy", "-m pytest"]  # fmt: skip
    positions = [test.find(step) for step in steps]
    assert -1 not in positions and positions == sorted(positions), test
    run = plan("run")
    assert "tools/system-deps run" in run and "'.[all]'" in run
    assert "system-deps test" not in run and "all,dev" not in run


def test_system_deps_is_silent_here_and_names_what_is_missing_elsewhere(tmp_path: Path) -> None:
    """On this Debian machine everything is present: nothing to do. On a system it cannot
    install on (not Debian/Ubuntu), with the tools out of PATH, it stops at once naming them."""
    script = REPO / "tools" / "system-deps"
    here = subprocess.run([str(script), "test"], capture_output=True, text=True, timeout=60)
    assert (here.returncode, here.stderr) == (0, ""), here.stderr
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("bash", "cat", "env", "id"):
        (bin_dir / tool).symlink_to(shutil.which(tool) or f"/bin/{tool}")
    (tmp_path / "os-release").write_text('ID=fedora\nID_LIKE="rhel centos"\n')
    env = {"PATH": str(bin_dir), "LOGMARKET_OS_RELEASE": str(tmp_path / "os-release"),
           "PYTHON": sys.executable}  # fmt: skip
    away = subprocess.run(["bash", str(script), "test"], env=env, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert away.returncode == 1
    for package in ("systemd", "chromium", "chromium-driver", "socat"):
        assert f" {package}" in away.stderr, away.stderr
    assert "apt-get" not in away.stderr and "package manager" in away.stderr
    nothing_for_run = subprocess.run(["bash", str(script), "run"], env=env, capture_output=True,
                                     text=True, timeout=60)  # fmt: skip
    assert (nothing_for_run.returncode, nothing_for_run.stderr) == (0, "")

"""The commands that run daemon code on this host (``analyze``, ``templates``, ``keys``), on an
install without the ``daemon`` extra: one line naming what to install, exit status 2.

The real CLI runs in a subprocess with ``python -S``: no site-packages at all, so neither
the daemon's dependencies nor anything else installed is importable, only the standard
library and the source directories put on ``PYTHONPATH``. ``src`` alone is an install of the
client without the daemon package; ``src`` and ``daemon`` is what ``pip install logmarket``
gives (both packages, without the extra's dependencies).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

SAMPLE = REPO / "daemon" / "logmarketd" / "samples" / "build-gcc-error.log"
# What the daemon extra brings, as modules: none may be importable in the runs below.
EXTRA_MODULES = [
    "ahocorasick_rs",
    "aiohttp",
    "aiosqlite",
    "pydantic",
    "pydantic_settings",
    "structlog",
]
INSTALL = "pip install 'logmarket[daemon]'"

INSTALLS = {
    "client-only": [REPO / "src"],
    "no-extra": [REPO / "src", REPO / "daemon"],
}


def _run(python_path: list[Path], *argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "LOGMARKET_"))}
    env.update(PYTHONPATH=os.pathsep.join(map(str, python_path)), PYTHONNOUSERSITE="1")
    return subprocess.run(
        [sys.executable, "-S", *argv], env=env, cwd=cwd,
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _commands(state_dir: Path) -> dict[str, list[str]]:
    return {
        "analyze": ["analyze", str(SAMPLE), "--source", "build"],
        "templates": ["templates", str(SAMPLE)],
        "keys": ["keys", "create", "sub-1", "--state-dir", str(state_dir)],
    }


@pytest.mark.parametrize("install", sorted(INSTALLS))
def test_the_interpreter_really_lacks_the_daemon_extra(install: str, tmp_path: Path) -> None:
    """The runs below are honest: their interpreter finds the client, and none of the extra's
    modules (nor the daemon package, for a client-only install)."""
    names = [*EXTRA_MODULES, "logmarket", "logmarketd"]
    probe = (
        "import importlib.util as u, json, sys; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in sys.argv[1:]}))"
    )
    result = _run(INSTALLS[install], "-c", probe, *names, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert found.pop("logmarket") is True
    assert found.pop("logmarketd") is (install == "no-extra")
    assert not any(found.values()), found


@pytest.mark.parametrize(
    ("command", "install"),
    [(c, "client-only") for c in ("analyze", "templates", "keys")]
    + [("analyze", "no-extra"), ("keys", "no-extra")],
)
def test_a_command_needing_the_daemon_says_so_in_one_line(
    command: str, install: str, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    argv = _commands(state)[command]
    result = _run(INSTALLS[install], "-m", "logmarket.cli", *argv, cwd=tmp_path)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    said = f"logmarket {command}: needs the daemon package: {INSTALL} (no module named '"
    assert lines[0].startswith(said), lines
    missing = lines[0].removeprefix(said).removesuffix("')")
    assert missing in (["logmarketd"] if install == "client-only" else EXTRA_MODULES), lines
    assert result.stdout == ""
    assert not state.exists()  # keys create wrote nothing


@pytest.mark.parametrize("command", ["analyze", "templates", "keys"])
def test_the_same_command_runs_with_the_daemon_installed(command: str, tmp_path: Path) -> None:
    """The control: this interpreter, with its site-packages, runs the very same command."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGMARKET_")}
    result = subprocess.run(
        [sys.executable, "-m", "logmarket.cli", *_commands(tmp_path / "state")[command]],
        env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "needs the daemon package" not in result.stderr


def test_templates_needs_the_daemon_package_only(tmp_path: Path) -> None:
    """Template mining is standard-library code: without the extra's dependencies it runs."""
    result = _run(INSTALLS["no-extra"], "-m", "logmarket.cli", "templates", str(SAMPLE),
                  cwd=tmp_path)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "templates" in result.stderr and result.stdout

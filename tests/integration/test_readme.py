"""The README's commands run as written: each block marked ``<!-- readme-test -->`` is
executed, in order, in one shell, against a real daemon in this repository."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, DaemonProcess, counters, free_port, http, wait_for
from tests.fakes.llm_server import FakeLLMServer

MARKED = re.compile(r"<!-- readme-test -->\n```(sh|python)\n(.*?)```", re.S)
MODEL_COMMANDS = re.compile(r'make run ARGS="(--llm-provider [^"]+)"')


def test_readme_marked_blocks_run_against_the_daemon(short_tmp: Path) -> None:
    """Every marked block exits 0; the curl calls get real answers from the daemon."""
    blocks = [
        code if lang == "sh" else f".venv/bin/python - <<'PYEOF'\n{code}PYEOF\n"
        for lang, code in MARKED.findall((REPO / "README.md").read_text())
    ]
    assert len(blocks) >= 6
    d = DaemonProcess(short_tmp, marketplace=True)
    d.socket = d.state_dir / "logmarketd.sock"  # where `.logmarket/` puts it under make run
    d.start()
    try:
        script = "set -euo pipefail\n" + "\n".join(blocks)
        # The README speaks of `make run`'s defaults; point them at this test's daemon.
        script = script.replace("127.0.0.1:8765", f"127.0.0.1:{d.port}")
        script = script.replace(".logmarket/", f"{d.state_dir}/")
        script = script.replace("curl -s ", "curl -sf ")  # an HTTP error fails the script
        script = re.sub(r"logmarket keys create (\w+)",
                        rf"logmarket keys create \1 --state-dir {d.state_dir}", script)  # fmt: skip
        work = short_tmp / "work"
        work.mkdir()
        for name in ("daemon", ".venv"):
            (work / name).symlink_to(REPO / name)
        result = subprocess.run(
            ["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=180,
            env={**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
                 "LOGMARKET_URL": d.url},
        )  # fmt: skip
        stored = counters(d.db).get("records_stored", 0)
    finally:
        d.stop()
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    out = result.stdout
    assert stored >= 4, "the app's records and the tailed lines reach the daemon"
    assert "analysis la_" in out  # logmarket submit's summary
    assert '"transactions"' in out and '"totalLogs": 2' in out and '"simulated": true' in out


async def test_readme_model_commands_start_a_daemon_that_asks_the_model(
    short_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each `make run ARGS="--llm-provider ..."` line of the README, run as written (plus a
    state directory and port of the test's), enriches findings through the fake model server
    (the SDKs read OPENAI_BASE_URL / ANTHROPIC_BASE_URL, as they do in production)."""
    commands = MODEL_COMMANDS.findall((REPO / "README.md").read_text())
    assert len(commands) >= 3, commands
    log = (REPO / "daemon/logmarketd/samples/runtime-traceback.log").read_text()
    async with FakeLLMServer() as server:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-real")
        monkeypatch.setenv("OPENAI_BASE_URL", server.openai_base_url)
        for n, args in enumerate(commands):
            args = re.sub(r"http://127\.0\.0\.1:\d+/v1", server.openai_base_url, args)
            before = len(server.requests)
            state, port = short_tmp / f"s{n}", free_port()
            proc = await asyncio.to_thread(
                subprocess.Popen,
                ["make", "--no-print-directory", "run",
                 f"ARGS={args} --state-dir {state} --http 127.0.0.1:{port}"],
                cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                start_new_session=True,
            )  # fmt: skip
            try:
                url = f"http://127.0.0.1:{port}"
                up = await asyncio.to_thread(wait_for, lambda u=url: _up(u), 20)
                assert up, args
                token = (state / "admin.token").read_text().strip()
                status, a = await asyncio.to_thread(
                    http, "POST", url + "/npe/log-marketplace/analyze",
                    {"source": "runtime", "logContent": log.replace("1842", str(n))},
                    token=token,
                )  # fmt: skip
                assert status == 200, a
            finally:
                os.killpg(proc.pid, signal.SIGTERM)
                await asyncio.to_thread(proc.wait, 30)
            assert len(server.requests) > before, f"no model call for: {args}"


def _up(url: str) -> bool:
    try:
        return http("GET", url + "/healthz", timeout=1)[0] == 200
    except OSError:
        return False

"""The README's commands run as written: each block marked ``<!-- readme-test -->`` is
executed, in order, in one shell, against a real daemon in this repository."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sqlite3
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO, DaemonProcess, counters, free_port, http, wait_for
from tests.fakes.llm_server import FakeLLMServer

MARKED = re.compile(r"<!-- readme-test -->\n```(sh|python)\n(.*?)```", re.S)
# What a block prints, shown after it: every line appears in the block's output ("…" stands
# for what differs from run to run).
OUTPUT = re.compile(r"<!-- readme-output -->\n```text\n(.*?)```", re.S)
MODEL_COMMANDS = re.compile(r'make run ARGS="(--llm-provider [^"]+)"')
TOUR_ARGS = re.compile(r'^make run ARGS="(--window-seconds \d+)"$', re.M)
SEPARATOR = "@@readme-block {}@@"


def _blocks(readme: str) -> list[tuple[str, list[str]]]:
    """Each marked block as shell code, with the output lines the README shows after it."""
    found: list[tuple[int, str, str]] = [(m.start(), "code", m.group(1) + "\0" + m.group(2))
                                         for m in MARKED.finditer(readme)]  # fmt: skip
    found += [(m.start(), "output", m.group(1)) for m in OUTPUT.finditer(readme)]
    blocks: list[tuple[str, list[str]]] = []
    for _, kind, body in sorted(found):
        if kind == "code":
            lang, code = body.split("\0", 1)
            sh = code if lang == "sh" else f".venv/bin/python - <<'PYEOF'\n{code}PYEOF\n"
            blocks.append((sh, []))
        else:
            assert blocks, "an output block before any command"
            blocks[-1][1].extend(line for line in body.splitlines() if line.strip())
    return blocks


def _shown(expected: str, output: list[str]) -> bool:
    pattern = ".*?".join(re.escape(part) for part in expected.strip().split("…"))
    return any(re.fullmatch(pattern, line.strip()) for line in output)


def _findings(db: Path) -> list[str]:
    """Every finding title of every analysis the daemon recorded."""
    out: list[str] = []
    with contextlib.closing(sqlite3.connect(db)) as conn:
        for (body,) in conn.execute("SELECT body FROM analyses"):
            for items in json.loads(body)["aiInsights"].values():
                out += [i.get("pattern") or i.get("issue") or i.get("threat") or i.get("area")
                        for i in items]  # fmt: skip
    return out


def test_readme_marked_blocks_run_against_the_daemon(short_tmp: Path) -> None:
    """Every marked block exits 0 and prints what the README shows after it; the curl calls
    get real answers from the daemon; each example's log is analysed into its finding."""
    readme = (REPO / "README.md").read_text()
    blocks = _blocks(readme)
    assert len(blocks) >= 8
    assert sum(1 for _, shown in blocks if shown) >= 5, "the first steps show what they print"
    tour = TOUR_ARGS.findall(readme)
    assert tour, "the tour starts the daemon with its windows shortened"
    d = DaemonProcess(short_tmp, *tour[0].split(), marketplace=True)
    d.socket = d.state_dir / "logmarketd.sock"  # where `.logmarket/` puts it under make run
    d.start()
    try:
        parts = [f"echo '{SEPARATOR.format(n)}'\n{code}" for n, (code, _) in enumerate(blocks)]
        script = "set -euo pipefail\nexec 2>&1\n" + "\n".join(parts)
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
            ["bash", "-c", script], cwd=work, capture_output=True, text=True, timeout=240,
            env={**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
                 "LOGMARKET_URL": d.url},
        )  # fmt: skip
        stored = counters(d.db).get("records_stored", 0)
        findings = _findings(d.db)
    finally:
        d.stop()
    assert result.returncode == 0, result.stdout[-3000:]
    out = result.stdout
    for n, (_, shown) in enumerate(blocks):
        printed = out.split(SEPARATOR.format(n), 1)[1].split("@@readme-block", 1)[0].splitlines()
        for line in shown:
            assert _shown(line, printed), f"block {n} did not print {line!r}:\n" + "\n".join(
                printed
            )
    assert stored >= 4, "the app's records and the tailed lines reach the daemon"
    assert '"transactions"' in out and '"totalLogs": 2' in out and '"simulated": true' in out
    for title in ("KeyError: 'customer_id'", "ERROR: worker 7 crashed: out of memory",
                  "disk full", "'struct frame' has no member named 'locals'"):  # fmt: skip
        assert any(title in f for f in findings), (title, findings)


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

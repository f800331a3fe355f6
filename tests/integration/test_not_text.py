"""Input that is not text — an executable, a compressed file, bytes that are not UTF-8 — is
refused with one clear line by ``logmarket submit``, ``analyze``, ``templates`` and ``send``,
and with a 422 by the HTTP API; nothing of it is analysed or recorded as a log."""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, DaemonProcess, http

SAMPLE = REPO / "daemon" / "logmarketd" / "samples" / "build-gcc-error.log"
API = "/npe/log-marketplace"


def cli(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOGMARKET_")}
    return subprocess.run([sys.executable, "-m", "logmarket.cli", *args], env=env,
                          capture_output=True, timeout=120, check=False)  # fmt: skip


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    root = Path(tempfile.mkdtemp(prefix="lm", dir="/tmp"))
    d = DaemonProcess(root, marketplace=True)
    d.start()
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("inputs")
    elf = root / "program"
    elf.write_bytes(Path(sys.executable).resolve().read_bytes()[:200_000])
    gz = root / "build.log.gz"
    gz.write_bytes(gzip.compress(SAMPLE.read_bytes()))
    latin = root / "latin.bin"
    latin.write_bytes(bytes(range(0x80, 0x100)) * 400)  # no NUL, no UTF-8 at all
    return {"elf": elf, "gz": gz, "latin": latin}


def refused(result: subprocess.CompletedProcess[bytes], path: Path) -> str:
    assert result.returncode == 2, (result.returncode, result.stderr[-500:])
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    assert result.stdout == b"", "nothing of the input reaches the terminal"
    assert str(path) in lines[0] and "is not text" in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("kind", ["elf", "gz", "latin"])
def test_analyze_and_templates_refuse_what_is_not_text(inputs: dict[str, Path], kind: str) -> None:
    path = inputs[kind]
    refused(cli("analyze", str(path), "--source", "build"), path)
    refused(cli("templates", str(path)), path)


def test_a_log_with_a_few_latin1_bytes_is_still_read(tmp_path: Path) -> None:
    log = tmp_path / "names.log"
    log.write_bytes(SAMPLE.read_bytes() + "user Jos\xe9 M\xfcller logged in\n".encode("latin-1"))
    result = cli("analyze", str(log), "--source", "build")
    assert result.returncode == 0, result.stderr
    assert b"[error/" in result.stdout


def _analyses(d: DaemonProcess, sub: str) -> int:
    status, body = http("GET", d.url + f"{API}/sub-pkp/{sub}", token=d.admin_token)
    assert status == 200, body
    return len(body["analyses"])


def test_submit_and_send_refuse_before_anything_is_recorded(
    market: DaemonProcess, inputs: dict[str, Path]
) -> None:
    api = ["--url", market.url, "--token", market.admin_token]
    for path in inputs.values():
        refused(cli("submit", str(path), "--source", "build", "--sub-pkp", "bin", *api), path)
        refused(cli("send", str(path), "--socket", str(market.socket), "--sub-pkp", "bin"), path)
    assert market.metrics().get("logmarket_records_stored_total", 0) == 0
    assert _analyses(market, "bin") == 0


@pytest.mark.parametrize(
    "content",
    ["\x7fELF\x02\x01\x01\x00\x00\x00 binary", "\ufffd" * 200 + "ok"],
    ids=["nul", "replacement"],
)
def test_the_api_refuses_content_that_is_not_text(market: DaemonProcess, content: str) -> None:
    token = market.admin_token
    status, body = http("POST", market.url + f"{API}/analyze", token=token,
                        body={"source": "build", "logContent": content, "subPKPId": "api"})  # fmt: skip
    assert status == 422 and body["error"] == "not-text", body
    assert "logContent" in body["detail"] and "not text" in body["detail"], body
    status, body = http("POST", market.url + f"{API}/batch-analyze", token=token, body={
        "subPKPId": "api", "logs": [{"source": "build", "content": "fine\n"},
                                    {"source": "build", "content": content}]})  # fmt: skip
    assert status == 422 and body["error"] == "not-text", body
    assert "logs.1.content" in body["detail"], body
    assert _analyses(market, "api") == 0

"""The daemon's settings as a user meets them, through the real ``logmarketd`` (and ``logmarket``)
in a subprocess: a wrong setting is one line in our words — which setting, the value given,
what is allowed and where it came from (flag, environment variable, file and line) — with
exit status 2 before anything starts; an unknown flag gets the closest known one; ``--help``
shows real defaults, grouped; both programs answer ``--version``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    prefixes = ("LOGMARKET_", "LOG_MARKETPLACE_", "AUTO_PAY_", "LISTEN_", "NOTIFY_SOCKET")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    return {**env, **(extra or {})}


def daemon(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmarketd", *args],
        env=_env(env), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def client(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", *args],
        env=_env(), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def refused(result: subprocess.CompletedProcess[str]) -> str:
    """Exit 2, exactly one line on stderr, none of pydantic's own text."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    for internal in ("pydantic", "validation error", "[type=", "Source", "Traceback"):
        assert internal not in line, line
    return line


def test_an_unknown_setting_in_the_file_names_file_line_and_the_closest_one(
    tmp_path: Path,
) -> None:
    config = tmp_path / "logmarketd.toml"
    config.write_text('state_dir = "/tmp/x"\n\nhtp = "127.0.0.1:9000"\n')
    line = refused(daemon("--config", str(config)))
    assert f"{config}:3" in line and "htp" in line, line
    assert "http" in line.replace("htp", "", 1), line  # the suggestion


def test_a_wrong_value_in_the_file_says_what_is_allowed(tmp_path: Path) -> None:
    config = tmp_path / "logmarketd.toml"
    config.write_text('sync = "sometimes"\n')
    line = refused(daemon("--config", str(config)))
    assert f"{config}:1" in line and "sometimes" in line, line
    assert "full" in line and "normal" in line, line


def test_a_wrong_flag_value_names_the_flag() -> None:
    line = refused(daemon("--window-seconds", "soon"))
    assert "--window-seconds" in line and "soon" in line and "number" in line, line


def test_a_wrong_environment_value_names_the_variable() -> None:
    line = refused(daemon(env={"AUTO_PAY_THRESHOLD": "150"}))
    assert "AUTO_PAY_THRESHOLD" in line and "150" in line and "100" in line, line
    line = refused(daemon(env={"LOGMARKET_HTTP": "localhost"}))
    assert "LOGMARKET_HTTP" in line and "HOST:PORT" in line, line


def test_min_payment_above_max_payment_is_refused_at_start() -> None:
    line = refused(
        daemon(env={"LOG_MARKETPLACE_MIN_PAYMENT": "30", "LOG_MARKETPLACE_MAX_PAYMENT": "5"})
    )
    assert "LOG_MARKETPLACE_MIN_PAYMENT" in line and "LOG_MARKETPLACE_MAX_PAYMENT" in line
    assert "30" in line and "5" in line, line


@pytest.mark.parametrize(
    "value",
    ["{d}", "{d},{d}2", "{d}:{d}2", '["{d}", "{d}2"]'],
    ids=["one", "comma", "colon", "json"],
)
def test_a_watch_list_in_the_environment_takes_the_forms_people_type(
    tmp_path: Path, value: str
) -> None:
    """LOGMARKET_WATCH=/var/log is a list of one; the daemon gets past its settings (and is
    then refused for the HTTP port this test holds, which proves the settings were read)."""
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {"LOGMARKET_WATCH": value.replace("{d}", str(tmp_path / "logs")),
               "LOGMARKET_LOG_FORMAT": "json"}  # fmt: skip
        result = daemon("--state-dir", str(tmp_path / "s"), "--socket", str(tmp_path / "d.sock"),
                        "--http", f"127.0.0.1:{port}", env=env)  # fmt: skip
    assert "watch" not in result.stderr.lower().split("cannot listen")[0], result.stderr
    assert "cannot listen for HTTP" in result.stderr, result.stderr


def test_an_unknown_flag_gets_the_closest_one_in_two_lines_at_most() -> None:
    for result, wanted in (
        (daemon("--windows-seconds", "5"), "--window-seconds"),
        (client("submit", "x.log", "--source", "build", "--sub-pkd", "a"), "--sub-pkp"),
    ):
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert 1 <= len(lines) <= 2, result.stderr
        assert wanted in result.stderr and "usage:" not in result.stderr, result.stderr


def test_help_shows_real_defaults_grouped() -> None:
    result = daemon("--help")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "PydanticUndefined" not in text and "(default: None)" not in text, text
    socket_help = text[text.index("--socket SOCKET") :].split("\n  --", 1)[0]
    assert socket_help.count("default") == 1, socket_help
    for group in ("ingest", "analysis", "market", "HTTP", "model", "tailing"):
        assert f"\n{group}" in text or f"\n{group.capitalize()}" in text, group
    assert "(default: 60)" in text.replace("60.0", "60"), "window-seconds' default is shown"


def test_both_programs_answer_version() -> None:
    for result in (daemon("--version"), client("--version")):
        assert result.returncode == 0, result.stderr
        out = result.stdout.strip()
        assert out.split()[0] in ("logmarketd", "logmarket") and out.split()[1][0].isdigit(), out

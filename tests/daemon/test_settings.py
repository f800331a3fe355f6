"""Settings: flags > environment > file > defaults, and --help lists every setting."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from logmarketd.errors import ConfigError
from logmarketd.main import build_parser
from logmarketd.settings import Settings, load_settings


def test_precedence_flags_over_env_over_file_over_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each layer overrides the one below it, for our names and the seed's."""
    config = tmp_path / "c.toml"
    config.write_text(
        'http = "127.0.0.1:1111"\nstate_dir = "/from/file"\nauto_pay_threshold = 60\n'
        "max_logs_per_hour = 5\n"
    )
    monkeypatch.setenv("LOGMARKET_HTTP", "127.0.0.1:2222")
    monkeypatch.setenv("AUTO_PAY_THRESHOLD", "65")
    monkeypatch.setenv("LOG_MARKETPLACE_MIN_PAYMENT", "0.25")
    s = load_settings({"http": "127.0.0.1:3333"}, config)
    assert s.http == "127.0.0.1:3333"  # flag
    assert s.auto_pay_threshold == 65  # env (seed name) over file
    assert s.state_dir == Path("/from/file")  # file over default
    assert s.max_logs_per_hour == 5
    assert s.log_marketplace_min_payment == Decimal("0.25")
    assert s.points_per_dollar == 10  # default
    assert s.socket_path == Path("/from/file/logmarketd.sock")


def test_bad_values_are_clear_errors(tmp_path: Path) -> None:
    """A malformed address, an unknown key or an unreadable file is a ConfigError."""
    with pytest.raises(ConfigError, match="HOST:PORT"):
        load_settings({"http": "nonsense"})
    bad = tmp_path / "c.toml"
    bad.write_text("no_such_setting = 1\n")
    with pytest.raises(ConfigError, match="no_such_setting"):
        load_settings({}, bad)
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings({}, tmp_path / "missing.toml")


def test_help_lists_every_setting_with_its_env_name() -> None:
    """logmarketd --help names each setting's flag and environment variable."""
    text = build_parser().format_help()
    for name in Settings.model_fields:
        assert "--" + name.replace("_", "-") in text, name
    for env in (
        "LOGMARKET_STATE_DIR",
        "LOGMARKET_SOCKET",
        "LOGMARKET_HTTP",
        "AUTO_PAY_THRESHOLD",
        "LOG_MARKETPLACE_MAX_PAYMENT",
        "AI_MONITOR_SECURITY",
        "POINTS_PER_DOLLAR",
    ):
        assert env in text, env  # fmt: skip


def test_invalid_settings_exit_2_with_message() -> None:
    """The real CLI refuses bad settings before doing anything."""
    result = subprocess.run(
        [sys.executable, "-m", "logmarketd", "--http", "oops"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "invalid setting --http oops" in result.stderr


@pytest.mark.parametrize(
    ("env", "value", "expected"),
    [
        ("LOGMARKET_WATCH", "/var/log", ["/var/log"]),
        ("LOGMARKET_WATCH", "/var/log, /srv/app/*.log", ["/var/log", "/srv/app/*.log"]),
        ("LOGMARKET_WATCH", "/var/log:/srv/logs", ["/var/log", "/srv/logs"]),
        ("LOGMARKET_WATCH", '["/var/log", "/a,b"]', ["/var/log", "/a,b"]),
        (
            "LOGMARKET_WATCH_RULES",
            "ci/*=build,alice,*.gz=deploy",
            ["ci/*=build,alice", "*.gz=deploy"],
        ),
        ("LOGMARKET_AGENTS_ALLOW_ADDRESSES", "10.0.0.1,::1", ["10.0.0.1", "::1"]),
        ("LOGMARKET_PEER_UID_CREDIT", "1001=alice, 1002=bob", ["1001=alice", "1002=bob"]),
        ("LOGMARKET_REDACT_ALLOWLIST", "a{1,3}", ["a{1,3}"]),
    ],
)
def test_lists_in_the_environment_take_the_forms_people_type(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv(env, value)
    name = env.removeprefix("LOGMARKET_").lower()
    assert getattr(load_settings({}), name) == expected


def test_retention_days_defaults_to_30_and_refuses_below_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``--retention-days`` / ``LOGMARKET_RETENTION_DAYS``: 30 by default; 0 (which could
    read as "keep nothing" or "keep forever") is refused rather than guessed."""
    assert Settings().retention_days == 30
    monkeypatch.setenv("LOGMARKET_RETENTION_DAYS", "7")
    assert load_settings({}).retention_days == 7
    args = vars(build_parser().parse_args(["--retention-days", "90"]))
    args.pop("config")
    assert load_settings(args).retention_days == 90
    for bad in ("0", "-1"):
        with pytest.raises(ConfigError, match="--retention-days"):
            load_settings({"retention_days": bad})

"""``logmarketd``: the command line. Every setting is a flag; ``--help`` lists them all with
the environment variable each one is also read from. ``logmarketd rules test [DIR]`` checks
rule packs instead of starting the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import typing
from pathlib import Path

from pydantic.fields import FieldInfo

from logmarket._parser import Parser, version_action
from logmarketd.analysis.rules import check_packs, shipped_packs
from logmarketd.errors import ConfigError
from logmarketd.logs import configure_logging
from logmarketd.service import Daemon
from logmarketd.settings import Settings, env_names, load_settings

__all__ = ["build_parser", "main"]


# --help groups the settings by the part of the daemon they tune (first match wins).
_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ingest", "the client socket, the durable inbox and redaction", (
        "socket", "socket_mode", "max_frame_bytes", "sync", "commit_max_records", "redact_", "peer_uid_credit")),
    ("analysis", "windows and the four agents", (
        "window_", "agents_", "rules_dir", "ai_monitor_", "log_marketplace_enabled")),
    ("market", "scores, prices, payouts, the ledger and webhooks", (
        "daily_", "settle_after", "engineer_hour_usd", "triage_hours_per_failure", "log_marketplace_",
        "auto_pay_threshold", "batch_processing_enabled", "max_logs_per_hour",
        "points_per_dollar", "quality_multiplier_enabled", "webhook_")),
    ("HTTP", "the API and dashboard on a local port", (
        "http", "admin_token", "requests_per_minute", "max_body_bytes")),
    ("model", "an LLM that adds root causes and fixes (optional)", ("llm_",)),
    ("tailing", "files the daemon tails itself (--watch)", ("watch", "watch_")),
)  # fmt: skip


def _group_of(name: str) -> str:
    for title, _, prefixes in _GROUPS:
        if any(name == p or (p.endswith("_") and name.startswith(p)) for p in prefixes):
            return title
    return "daemon"


def _default_text(name: str, field: FieldInfo) -> str:
    """`` (default: X)`` for a real default; nothing for none (the description says it)."""
    default = field.get_default(call_default_factory=True)
    if default is None or default == []:
        return ""
    if name == "socket_mode":
        return f" (default: {default:#o})"
    if isinstance(default, bool):
        return f" (default: {'on' if default else 'off'})"
    if isinstance(default, float):
        return f" (default: {default:g})"
    return f" (default: {default})"


def _add_setting(group: argparse._ArgumentGroup, name: str, field: FieldInfo) -> None:
    flag = "--" + name.replace("_", "-")
    envs = ", ".join(env_names(name, field))
    help_text = f"{field.description} [env: {envs}]{_default_text(name, field)}"
    if list in (
        typing.get_origin(field.annotation),
        *map(typing.get_origin, typing.get_args(field.annotation)),
    ):
        group.add_argument(flag, action="append", default=argparse.SUPPRESS,
                           help=help_text + " (repeatable)", dest=name)  # fmt: skip
    elif field.annotation is bool:
        group.add_argument(
            flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
            help=help_text, dest=name,
        )  # fmt: skip
    else:
        choices = typing.get_args(field.annotation)
        metavar = (
            "{" + ",".join(choices) + "}"
            if typing.get_origin(field.annotation) is typing.Literal
            else None
        )
        group.add_argument(flag, default=argparse.SUPPRESS, help=help_text, dest=name,
                           metavar=metavar)  # fmt: skip


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="logmarketd",
        usage="logmarketd [--config FILE] [SETTING FLAGS...]  |  logmarketd rules test [DIR]",
        description="The logmarket daemon: receives logs on a Unix socket, stores them durably, "
        "analyses, prices and pays for them, and serves the API on a local port.",
        epilog="Precedence: flags > environment > --config file > defaults.\n"
        "Check rule packs instead: logmarketd rules test [DIR]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    version_action(parser, "logmarketd")
    daemon = parser.add_argument_group("daemon", "where it keeps its state, its own logs")
    daemon.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("LOGMARKET_CONFIG") or None,
        help="TOML file of settings, by field name [env: LOGMARKET_CONFIG]",
    )
    groups = {"daemon": daemon}
    for title, description, _ in _GROUPS:
        groups[title] = parser.add_argument_group(title, description)
    for name, field in Settings.model_fields.items():
        _add_setting(groups[_group_of(name)], name, field)
    return parser


def banner(daemon: Daemon) -> None:
    s = daemon.settings
    sock = os.path.abspath(s.socket_path)
    lines = [
        "logmarketd is running",
        f"  socket : {sock}",
        f"  http   : {daemon.http_url or 'off'}",
        f"  state  : {os.path.abspath(s.state_dir)}",
        "  apps add one line to their logging config:",
        '      "handlers": {"logmarket": {"class": "logmarket.Handler"}}',
        f"  with LOGMARKET_SOCKET={sock}",
    ]
    if daemon.admin_token_generated:
        lines.append(f"  admin token (shown once; kept in {s.state_dir}/admin.token): "
                     f"{daemon.admin_token}")  # fmt: skip
    elif daemon.admin_token is not None and s.admin_token is None:
        lines.append(f"  admin token: in {os.path.abspath(s.state_dir)}/admin.token")
    print("\n".join(lines), flush=True)


def rules_command(argv: list[str]) -> int:
    """``logmarketd rules test [DIR]``: every rule's examples and counter-examples, of the
    shipped packs and DIR's; one line per failing rule or pack, a summary, exit 1 on a failure."""
    parser = Parser(prog="logmarketd rules", description="Check rule packs.")
    sub = parser.add_subparsers(dest="command", required=True)
    test = sub.add_parser("test", help="run the examples and counter-examples of every rule")
    test.add_argument("dir", nargs="?", type=Path, help="a directory of *.toml packs to check too")
    args = parser.parse_args(argv)
    paths = shipped_packs()
    if args.dir is not None:
        if not args.dir.is_dir():
            print(f"logmarketd rules: {args.dir}: not a directory", file=sys.stderr)
            return 2
        paths += sorted(args.dir.glob("*.toml"))
    passed, failures = check_packs(paths)
    for line in failures:
        print(f"FAIL {line}")
    print(f"rules: {len(passed)} passed, {len(failures)} failed")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["rules"]:
        return rules_command(argv[1:])
    args = vars(build_parser().parse_args(argv))
    config = args.pop("config")
    try:
        settings = load_settings(args, Path(config) if config else None)
    except ConfigError as exc:
        for line in str(exc).splitlines():
            print(f"logmarketd: {line}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    daemon = Daemon(settings, on_ready=banner)
    return asyncio.run(daemon.run())


if __name__ == "__main__":
    sys.exit(main())

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

from logmarketd.analysis.rules import check_packs, shipped_packs
from logmarketd.errors import ConfigError
from logmarketd.logs import configure_logging
from logmarketd.service import Daemon
from logmarketd.settings import Settings, env_names, load_settings

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="logmarketd",
        description="The logmarket daemon: receives logs on a Unix socket, stores them durably, "
        "analyses, prices and pays for them, and serves the API on a local port.",
        epilog="Precedence: flags > environment > --config file > defaults.\n"
        "Check rule packs instead: logmarketd rules test [DIR]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=os.environ.get("LOGMARKET_CONFIG") or None,
        help="TOML file of settings, by field name [env: LOGMARKET_CONFIG]",
    )
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        envs = ", ".join(env_names(name, field))
        default = field.default
        if name == "socket_mode":
            default = oct(default)
        help_text = f"{field.description} [env: {envs}] (default: {default})"
        if list in (
            typing.get_origin(field.annotation),
            *map(typing.get_origin, typing.get_args(field.annotation)),
        ):
            parser.add_argument(flag, action="append", default=argparse.SUPPRESS,
                                help=help_text + " (repeatable)", dest=name)  # fmt: skip
        elif field.annotation is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=argparse.SUPPRESS,
                help=help_text, dest=name,
            )  # fmt: skip
        else:
            parser.add_argument(flag, default=argparse.SUPPRESS, help=help_text, dest=name)
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
    parser = argparse.ArgumentParser(prog="logmarketd rules", description="Check rule packs.")
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
        print(f"logmarketd: invalid settings: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    daemon = Daemon(settings, on_ready=banner)
    return asyncio.run(daemon.run())


if __name__ == "__main__":
    sys.exit(main())

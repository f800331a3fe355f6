"""``logmarket``: the client command line. Each subcommand lives in ``logmarket.commands``
as a module with ``register(subparsers)``; importing this stays standard-library only (the
commands import the daemon's parts only when they run).
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

import logmarket.commands
from logmarket._parser import Parser, version_action
from logmarket.errors import CommandError

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="logmarket", description="logmarket client tools")
    version_action(parser, "logmarket")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(logmarket.commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"logmarket.commands.{info.name}")
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command. Exit status: 0 done, 1 the work failed (daemon down or refusing),
    2 the command line needs fixing (argparse's own errors, a missing file or token) or the
    install does (a command that needs the daemon package without it)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0
    except CommandError as exc:
        print(f"logmarket {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())

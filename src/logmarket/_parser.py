"""The argument parser both programs use: a command-line mistake is one or two lines that
say what was wrong and, for an unknown option, the closest known one — not the whole usage."""

from __future__ import annotations

import argparse
import difflib
from typing import NoReturn

__all__ = ["Parser", "version_action"]


class Parser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with short errors; subcommands' parsers are of this class
    too (``add_subparsers`` makes them of the parent's class)."""

    def error(self, message: str) -> NoReturn:
        prefix, _, rest = message.partition(": ")
        if prefix == "unrecognized arguments":
            unknown = [a for a in rest.split() if a.startswith("-")]
            if unknown:
                message = self._unknown(unknown[0].partition("=")[0])
        self.exit(2, f"{self.prog}: {message}\n  (see {self.prog} --help)\n")

    def _unknown(self, option: str) -> str:
        known = sorted(self._all_options())
        close = difflib.get_close_matches(option, known, n=1, cutoff=0.75)
        hint = f"; did you mean {close[0]}?" if close else ""
        return f"unknown option {option}{hint}"

    def _all_options(self) -> set[str]:
        """Every option string of this parser and of its subcommands, at any depth."""
        seen: set[str] = set()
        todo: list[argparse.ArgumentParser] = [self]
        while todo:
            parser = todo.pop()
            for action in parser._actions:
                seen.update(s for s in action.option_strings if s.startswith("--"))
                if isinstance(action, argparse._SubParsersAction):
                    todo.extend(action.choices.values())
        return seen


def version_action(parser: argparse.ArgumentParser, prog: str) -> None:
    """``--version``: the program and the installed distribution's version."""
    from logmarket import __version__

    parser.add_argument(
        "--version", action="version", version=f"{prog} {__version__}",
        help="print the version and exit",
    )  # fmt: skip

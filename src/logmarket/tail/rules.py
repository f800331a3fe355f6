"""What a file's records are labelled with: source and Sub-PKP, from rules on its path.

The default source follows the seed's ``detectSource``: a file name containing ``build``,
``test`` or ``deploy`` is that, anything else is ``runtime``. Rules (``GLOB=source``,
``GLOB=source,subPKP`` or ``GLOB=,subPKP``) override it; the first rule whose glob matches
the file's absolute path wins. ``fnmatch`` globs: ``*`` also crosses ``/``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from dataclasses import dataclass

from logmarket.protocol import SOURCES
from logmarket.tail.errors import TargetError

__all__ = ["PathRule", "Rules", "detect_source", "parse_rule"]


def detect_source(path: str) -> str:
    """The seed's ``detectSource`` on the file name."""
    name = os.path.basename(path)
    for source in ("build", "test", "deploy"):
        if source in name:
            return source
    return "runtime"


@dataclass(frozen=True, slots=True)
class PathRule:
    """Files whose path matches ``glob`` get this source and/or Sub-PKP."""

    glob: str
    source: str | None = None
    sub_pkp_id: str | None = None

    def __post_init__(self) -> None:
        if self.source is not None and self.source not in SOURCES:
            raise TargetError(
                f"rule {self.glob!r}: source must be one of {', '.join(SOURCES)}, "
                f"not {self.source!r}"
            )


def parse_rule(text: str) -> PathRule:
    """``GLOB=SOURCE[,SUBPKP]`` (either side of the comma may be empty) as a rule."""
    glob, sep, value = text.rpartition("=")
    if not sep or not glob:
        raise TargetError(f"rule {text!r}: expected GLOB=SOURCE[,SUBPKP]")
    source, _, sub = value.partition(",")
    return PathRule(glob, source or None, sub or None)


class Rules:
    """Labels and include/exclude filters for files, decided once per path."""

    def __init__(
        self,
        rules: tuple[PathRule, ...] = (),
        *,
        include: tuple[str, ...] = (),
        exclude: tuple[str, ...] = (),
        default_sub_pkp_id: str | None = None,
    ) -> None:
        self.rules = [(re.compile(fnmatch.translate(r.glob)), r) for r in rules]
        self.include = [_glob(g) for g in include]
        self.exclude = [_glob(g) for g in exclude]
        self.default_sub_pkp_id = default_sub_pkp_id

    def wanted(self, path: str) -> bool:
        """Whether a file found under a watched directory or glob is tailed.

        A pattern with no ``/`` is matched against the file name, one with ``/`` against
        the absolute path.
        """
        name = os.path.basename(path)
        if self.include and not any(_match(p, path, name) for p in self.include):
            return False
        return not any(_match(p, path, name) for p in self.exclude)

    def labels(self, path: str) -> tuple[str, str | None]:
        """``(source, subPKPId)`` of a file."""
        source: str | None = None
        sub: str | None = None
        for pattern, rule in self.rules:
            if pattern.match(path):
                source = source or rule.source
                sub = sub or rule.sub_pkp_id
                if source and sub:
                    break
        return source or detect_source(path), sub or self.default_sub_pkp_id


def _glob(glob: str) -> tuple[bool, re.Pattern[str]]:
    return "/" in glob, re.compile(fnmatch.translate(glob))


def _match(glob: tuple[bool, re.Pattern[str]], path: str, name: str) -> bool:
    on_path, pattern = glob
    return pattern.match(path if on_path else name) is not None

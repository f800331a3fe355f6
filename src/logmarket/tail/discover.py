"""Which files are tailed: paths, globs and directories (recursive), filtered by the rules.

A target is a file path (which may not exist yet), a directory (every file below it,
recursively) or a glob (``*``, ``?``, ``[...]``, ``**`` for any depth). :meth:`Finder.scan`
lists the regular files they name right now, with their ``stat``; :attr:`Finder.roots` are
the directories to watch for events.
"""

from __future__ import annotations

import glob
import os
import stat
from dataclasses import dataclass

from logmarket.tail.errors import TargetError
from logmarket.tail.rules import Rules

__all__ = ["Finder", "Target", "parse_target"]

_LIST_TRIES = 4  # listings of a directory whose names keep moving, before taking the last


@dataclass(frozen=True, slots=True)
class Target:
    """One ``PATH|GLOB`` argument, made absolute."""

    spec: str
    kind: str  # "file", "dir" or "glob"
    root: str  # the directory whose events concern it
    recursive: bool


def parse_target(spec: str) -> Target:
    """Classify a ``PATH|GLOB`` argument."""
    if not spec:
        raise TargetError("an empty path cannot be watched")
    path = os.path.abspath(os.path.expanduser(spec))
    if glob.has_magic(path):
        parts = path.split(os.sep)
        fixed = next(i for i, p in enumerate(parts) if glob.has_magic(p))
        root = os.sep.join(parts[:fixed]) or os.sep
        recursive = "**" in path or fixed < len(parts) - 1
        return Target(path, "glob", root, recursive)
    if os.path.isdir(path):
        return Target(path, "dir", path, True)
    return Target(path, "file", os.path.dirname(path), False)


class Finder:
    """Lists the files the targets name, filtered by the include/exclude rules."""

    def __init__(self, targets: list[Target], rules: Rules) -> None:
        if not targets:
            raise TargetError("nothing to watch: give at least one PATH or GLOB")
        self.targets = targets
        self.rules = rules

    @property
    def roots(self) -> list[tuple[str, bool]]:
        """``(directory, recursive)`` pairs to watch, without overlaps."""
        best: dict[str, bool] = {}
        for t in self.targets:
            best[t.root] = best.get(t.root, False) or t.recursive
        out = []
        for root, rec in sorted(best.items()):
            covered = any(
                r2 and root.startswith(d.rstrip(os.sep) + os.sep)
                for d, r2 in best.items()
                if d != root
            )
            if not covered:
                out.append((root, rec))
        return out

    def scan(self) -> dict[str, os.stat_result]:
        """Every wanted regular file named by a target now, with its ``stat``."""
        found: dict[str, os.stat_result] = {}
        for t in self.targets:
            if t.kind == "file":
                self._add(t.spec, found, explicit=True)
            elif t.kind == "dir":
                self._walk(t.spec, found)
            else:
                for path in glob.iglob(t.spec, recursive=True):
                    if os.path.isdir(path) and "**" in t.spec:
                        continue
                    if os.path.isdir(path):
                        self._walk(path, found)
                    else:
                        self._add(path, found, explicit=False)
        return found

    def _walk(self, top: str, found: dict[str, os.stat_result]) -> None:
        stack = [top]
        while stack:
            d = stack.pop()
            for attempt in range(_LIST_TRIES):
                files: dict[str, os.stat_result] = {}
                if self._list(d, files, stack if attempt == 0 else None):
                    break
            for path, st in files.items():
                found.setdefault(path, st)

    def _list(self, d: str, files: dict[str, os.stat_result], stack: list[str] | None) -> bool:
        """The wanted files of one directory; False if one was renamed or deleted between
        the listing and its ``stat`` (a rotation shifting names right now).

        Such a listing can miss a file that is there all along under its next name (the
        older copy moved from ``app.log.2`` to ``app.log.3`` after the listing, its ``stat``
        then failing): its successor would be read first. The directory is listed again.
        """
        try:
            entries = list(os.scandir(d))
        except OSError:
            return True  # vanished or unreadable: the next scan sees it again
        steady = True
        for e in entries:
            try:
                if e.is_dir(follow_symlinks=False):
                    if stack is not None:
                        stack.append(e.path)
                    continue
                if not e.is_file() or not self.rules.wanted(e.path):
                    continue
                st = os.stat(e.path)
            except FileNotFoundError:
                steady = False  # listed, then gone
                continue
            except OSError:
                continue
            if not e.is_symlink() and st.st_ino != e.inode():
                steady = False  # another file took its name
            if stat.S_ISREG(st.st_mode):
                files[e.path] = st
        return steady

    def _add(self, path: str, found: dict[str, os.stat_result], *, explicit: bool) -> None:
        if path in found or not (explicit or self.rules.wanted(path)):
            return
        try:
            st = os.stat(path)
        except OSError:
            return
        if stat.S_ISREG(st.st_mode):
            found[path] = st

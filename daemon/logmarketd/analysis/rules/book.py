"""The rules in force: the shipped packs and a user directory's, reloaded when a pack changes.

``use_dir`` sets the user directory (the ``rules_dir`` setting) and loads it at once, so a bad
pack stops the daemon at start. While the daemon runs, the agents' data-rule detectors ask
``current()`` for the rules; at most every ``CHECK_EVERY`` seconds that stats the directory's
``*.toml`` files, and when a name, size or mtime changed the packs are loaded again. A pack
that no longer loads is logged and the rules before it stay in force: a typo in a user file
never takes the analysis down.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path

import structlog

from logmarketd.analysis.agents.base import Context, Detector, Finding, Kind
from logmarketd.analysis.rules.match import check_rule, run_rules
from logmarketd.analysis.rules.model import AGENT_KINDS, Rule, RuleError, parse_pack

__all__ = [
    "CHECK_EVERY",
    "RuleBook",
    "check_packs",
    "current",
    "detector",
    "load_rules",
    "shipped_packs",
    "use_dir",
]

log = structlog.get_logger("logmarketd.rules")

CHECK_EVERY = 2.0  # seconds between two looks at the user directory
Stamp = tuple[tuple[str, int, int], ...]


def shipped_packs() -> list[Path]:
    """The packs shipped with the daemon (``logmarketd/analysis/rules/packs/*.toml``)."""
    root = Path(str(resources.files("logmarketd.analysis.rules") / "packs"))
    return sorted(root.glob("*.toml"))


def check_packs(paths: Iterable[Path]) -> tuple[list[Rule], list[str]]:
    """Every rule of the packs that parses and proves its examples, and one line per pack that
    does not parse or rule that fails (a rule id used again is a failure of the later rule)."""
    rules: list[Rule] = []
    failures: list[str] = []
    seen: dict[str, Rule] = {}
    for path in paths:
        try:
            pack = parse_pack(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError) as exc:
            failures.append(f"{path}: cannot read: {exc}")
            continue
        except RuleError as exc:
            failures.append(str(exc))
            continue
        for rule in pack:
            if rule.id in seen:
                failures.append(f"{rule.where()}: the id is taken by {seen[rule.id].origin}")
                continue
            failed = check_rule(rule)
            if failed:  # one line per rule
                rest = [f.removeprefix(f"{rule.where()}: ") for f in failed[1:]]
                failures.append("; ".join([failed[0], *rest]))
            else:
                seen[rule.id] = rule
                rules.append(rule)
    return rules, failures


def load_rules(paths: Iterable[Path]) -> tuple[Rule, ...]:
    """The rules of the packs; ``RuleError`` (its first failure, one line) if any fails."""
    rules, failures = check_packs(paths)
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise RuleError(failures[0] + more)
    return tuple(rules)


def _stamp(user_dir: Path | None) -> Stamp:
    if user_dir is None:
        return ()
    out = []
    try:
        for p in user_dir.glob("*.toml"):
            st = p.stat()
            out.append((p.name, st.st_size, st.st_mtime_ns))
    except OSError:
        return ()
    return tuple(sorted(out))


class RuleBook:
    """The shipped rules and those of ``user_dir`` (loaded now: ``RuleError`` if one fails)."""

    def __init__(self, user_dir: Path | None, *, check_every: float = CHECK_EVERY) -> None:
        self.user_dir = user_dir
        self.check_every = check_every
        self.error: str | None = None  # why the last reload was refused
        self._shipped = load_rules(shipped_packs())
        self._lock = threading.Lock()
        self._stamp = _stamp(user_dir)
        self._by_agent = self._index(self._user())
        self._checked = time.monotonic()

    def _user(self) -> tuple[Rule, ...]:
        if self.user_dir is None:
            return ()
        if not self.user_dir.is_dir():
            raise RuleError(f"{self.user_dir}: the rules directory does not exist")
        return load_rules([self.user_dir / name for name, *_ in self._stamp])

    def _index(self, user: Sequence[Rule]) -> dict[str, tuple[Rule, ...]]:
        """The rules per agent, highest priority first; at equal priority a user rule before
        the shipped ones (it was written for this deployment's logs)."""
        taken = {r.id: r for r in self._shipped}
        for r in user:
            if r.id in taken:
                raise RuleError(f"{r.where()}: the id is taken by {taken[r.id].origin}")
        by: dict[str, list[Rule]] = {}
        for r in (*user, *self._shipped):
            by.setdefault(r.agent, []).append(r)
        return {agent: tuple(sorted(rs, key=lambda r: -r.priority)) for agent, rs in by.items()}

    def rules_for(self, agent_id: str) -> tuple[Rule, ...]:
        """The rules of one agent, highest priority first."""
        return self._by_agent.get(agent_id, ())

    def maybe_refresh(self) -> None:
        """``refresh`` when ``check_every`` seconds passed since the last look."""
        if self.user_dir is not None and time.monotonic() - self._checked >= self.check_every:
            self.refresh()

    def refresh(self) -> None:
        """Reload the user packs if one was added, removed or changed; a pack that fails is
        logged (``error``) and the rules in force stay."""
        with self._lock:
            self._checked = time.monotonic()
            stamp = _stamp(self.user_dir)
            if stamp == self._stamp:
                return
            self._stamp = stamp
            try:
                by_agent = self._index(self._user())
            except RuleError as exc:
                self.error = str(exc)
                log.error("rule pack refused; the rules in force stay", error=self.error)
                return
            self._by_agent, self.error = by_agent, None
            log.info("rules reloaded", rules=sum(map(len, by_agent.values())))


_book: RuleBook | None = None


def use_dir(user_dir: Path | None) -> RuleBook:
    """Put the shipped rules and ``user_dir``'s in force (``RuleError`` if a pack fails)."""
    global _book
    _book = RuleBook(user_dir)
    return _book


def current() -> RuleBook:
    """The rules in force (the shipped ones until ``use_dir`` is called), refreshed if due."""
    book = _book or use_dir(None)
    book.maybe_refresh()
    return book


def detector(agent_id: str, kind: Kind) -> Detector:
    """The detector that runs the data rules of ``agent_id`` (its findings are ``kind``)."""
    AGENT_KINDS[agent_id] = kind

    def data_rules(ctx: Context) -> list[Finding]:
        return run_rules(current().rules_for(agent_id), ctx)

    data_rules.__qualname__ = data_rules.__name__ = f"data_rules_{agent_id.replace('-', '_')}"
    return data_rules

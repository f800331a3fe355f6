"""The analyses of a long log's pieces merged into the analysis of the whole: a finding seen
in several pieces (same fingerprint) is one finding with their counts added, its evidence
from where it was first seen and, for a measurement, the worst value; the log's own facts
(lines, signal lines) are added up, its structure and line shapes taken from the first piece
(scoring samples the log's head for them anyway). Scored once, at the end, as one log.

Only what the merged analysis needs is kept between pieces, so memory stays bounded by one
piece plus the findings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["Merged"]

_FIELDS = ("error_patterns", "performance_issues", "security_concerns", "improvement_opportunities")
_MAX_PER_KIND = 100  # as the agents keep per log


class Merged:
    """Pieces added in order with :meth:`add`; :meth:`inspection` is the whole log's."""

    def __init__(self) -> None:
        self.pieces = 0
        self._first: Any = None  # the first piece's Inspection
        self._offset = 0  # lines before the next piece
        self._items: dict[str, dict[str, Any]] = {f: {} for f in _FIELDS}
        self._facts: dict[str, Any] = {}  # FindingFacts by fingerprint
        self._findings: list[Any] = []
        self._fingerprints: set[str] = set()
        self._lines = self._signal = self._warn = 0

    def add(self, piece: Any) -> None:
        """One piece's Inspection (its context is not kept beyond the first)."""
        self.pieces += 1
        if self._first is None:
            self._first = piece
        offset = self._offset
        for field in _FIELDS:
            for item in getattr(piece.insights, field):
                self._add_item(field, item, offset)
        for facts in piece.scored:
            self._add_facts(facts, offset)
        self._findings.extend(piece.findings)
        self._fingerprints |= piece.fingerprints
        self._lines += piece.facts.lines
        self._signal += piece.facts.signal_lines
        self._warn += piece.facts.warn_error_lines
        self._offset += len(piece.context.lines)

    def _add_item(self, field: str, item: Any, offset: int) -> None:
        kept = self._items[field]
        key = item.fingerprint or repr(sorted(item.model_dump(exclude={"evidence", "count"})))
        if offset:
            moved = [e.model_copy(update={"line": e.line + offset}) for e in item.evidence]
            item = item.model_copy(update={"evidence": moved})
        prev = kept.get(key)
        if prev is None:
            if len(kept) < _MAX_PER_KIND:
                kept[key] = item
            return
        worse = getattr(item, "actual", None) is not None and item.actual > prev.actual
        merged = item if worse else prev
        kept[key] = merged.model_copy(update={"count": prev.count + item.count})

    def _add_facts(self, facts: Any, offset: int) -> None:
        lines = frozenset(i + offset for i in facts.lines) if offset else facts.lines
        prev = self._facts.get(facts.fingerprint)
        if prev is None:
            self._facts[facts.fingerprint] = dataclasses.replace(facts, lines=lines)
            return
        either = {
            name: getattr(prev, name) or getattr(facts, name)
            for name in ("has_location", "has_fix", "has_root_cause", "has_evidence",
                         "specific_fix", "specific_cause", "blocks_build", "location")
        }  # fmt: skip
        actual = prev.actual
        if facts.actual is not None and (actual is None or facts.actual > actual):
            actual = facts.actual
        self._facts[facts.fingerprint] = dataclasses.replace(
            prev, count=prev.count + facts.count, lines=prev.lines | lines, actual=actual,
            **either,
        )  # fmt: skip

    def inspection(self) -> Any:
        """The whole log's Inspection, to score with ``.report()``."""
        first = self._first
        if self.pieces <= 1:
            return first
        insights = first.insights.model_copy(
            update={f: list(self._items[f].values()) for f in _FIELDS}
        )
        facts = dataclasses.replace(
            first.facts, lines=self._lines, signal_lines=self._signal, warn_error_lines=self._warn
        )
        return dataclasses.replace(
            first, insights=insights, facts=facts, scored=tuple(self._facts.values()),
            findings=self._findings, fingerprints=frozenset(self._fingerprints),
        )  # fmt: skip

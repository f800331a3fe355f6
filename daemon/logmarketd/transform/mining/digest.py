"""Window digests: repeats within a window collapse into one entry per template.

A :class:`WindowDigest` accumulates :class:`~logmarketd.transform.mining.miner.Match` results for
one window (e.g. one Sub-PKP's stream over a minute) and yields one :class:`DigestEntry`
per template: count, first and last time, a few example variable values, and whether the
template was new to the store when the window saw it first. Pure: no I/O, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from logmarketd.transform.mining.miner import Match

__all__ = ["DigestEntry", "WindowDigest"]


@dataclass(slots=True)
class DigestEntry:
    """One template's share of a window."""

    template_id: str
    template: str
    count: int
    first_ts: float
    last_ts: float
    is_new_template: bool
    examples: list[list[str]] = field(default_factory=list)


class WindowDigest:
    """Collapses a window's matches by template; ``max_examples`` value lists per template.

    When a template is generalised inside the window (``match.previous_id``, and the
    siblings it absorbed, ``match.merged_ids``), their entries are folded into the new id,
    so a window never reports one event twice.
    """

    def __init__(self, max_examples: int = 3) -> None:
        self.max_examples = max_examples
        self._entries: dict[str, DigestEntry] = {}
        self._line_ids: list[str] = []
        self._renamed: dict[str, str] = {}
        self.lines = 0

    def add(self, match: Match, ts: float) -> DigestEntry:
        """Count one match at time ``ts``; returns the template's entry."""
        self.lines += 1
        self._line_ids.append(match.template_id)
        entry = self._entries.get(match.template_id)
        for old_id in (match.previous_id, *match.merged_ids):
            if old_id and old_id != match.template_id:
                self._renamed[old_id] = match.template_id
            old = self._entries.pop(old_id, None) if old_id else None
            if old is None:
                continue
            if entry is None:
                entry = old
                entry.template_id = match.template_id
                self._entries[match.template_id] = entry
            else:
                _fold(entry, old, self.max_examples)
            entry.template = match.template
        if entry is None:
            entry = DigestEntry(match.template_id, match.template, 0, ts, ts, match.is_new_template)
            self._entries[match.template_id] = entry
        entry.count += 1
        entry.first_ts = min(entry.first_ts, ts)
        entry.last_ts = max(entry.last_ts, ts)
        entry.is_new_template = entry.is_new_template or match.is_new_template
        if len(entry.examples) < self.max_examples:
            values = match.variables
            if values and values not in entry.examples:
                entry.examples.append(values)
        return entry

    def entries(self) -> list[DigestEntry]:
        """The window's entries, most frequent first."""
        return sorted(self._entries.values(), key=lambda e: (-e.count, e.first_ts))

    def line_templates(self) -> list[str]:
        """Each line's template id, in the order added, in its form at the window's end (a
        template generalised later in the window is reported generalised)."""
        final: dict[str, str] = {}
        out = []
        for tid in self._line_ids:
            end = final.get(tid)
            if end is None:
                end, steps = tid, 0
                while end in self._renamed and steps <= len(self._renamed):
                    end, steps = self._renamed[end], steps + 1
                final[tid] = end
            out.append(end)
        return out

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        """Start a new window."""
        self._entries.clear()
        self._line_ids.clear()
        self._renamed.clear()
        self.lines = 0


def _fold(into: DigestEntry, other: DigestEntry, max_examples: int) -> None:
    into.count += other.count
    into.first_ts = min(into.first_ts, other.first_ts)
    into.last_ts = max(into.last_ts, other.last_ts)
    into.is_new_template = into.is_new_template or other.is_new_template
    for values in other.examples:
        if len(into.examples) < max_examples and values not in into.examples:
            into.examples.append(values)

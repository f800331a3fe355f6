"""The online template miner: one pass, streaming, bounded memory.

A message meets three stages, cheapest first:

1. **exact fast path** — the message's *digit shape* (:func:`.masking.shape`: every digit
   turned into ``0``) is looked up in a dictionary.
   Masking depends only on this shape (lengths and positions of digits, never their values),
   so two messages with one shape have one masked text and one template: a repeat costs
   one translation and one dictionary lookup. The digits masking keeps (a name's: ``eth0``,
   with ``glued_names``) are added to the key.
2. **masked-line lookup** — the masked text (see :mod:`.masking`) is looked up, so repeats
   whose numbers changed width still skip the tree search.
3. **tree search** — Drain-style: templates are grouped by (token count, first token), and
   the most similar template of the group takes the line if the similarity clears the
   threshold. Masked positions are *neutral*: a position where either side is ``<*>`` is
   left out of the comparison, so a mostly-masked line always matches its own template
   (drain3 counts them as mismatches). A line whose first token is variable, or that finds
   no template in its own group, is also tried against the group of templates whose first
   token is ``<*>``.

Memory is bounded: at most ``max_templates`` live templates (least recently seen are
evicted and counted) and bounded caches. An evicted template is remembered (bounded, text
only) so that when its event comes back it is revived under the same id.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from logmarketd.transform.mining.masking import Masker, shape
from logmarketd.transform.mining.templates import Template, TemplateRow, extract_variables
from logmarketd.transform.mining.tree import (
    ANY,
    PLACEHOLDER,
    Key,
    Tree,
    differing,
    generalise,
    key_of,
)

__all__ = ["Match", "Miner", "collapse_lists"]

# Where ``glued_names`` may keep digits (a short run after a letter, ending its word): the
# shape key holds their values, since ``eth0`` and ``eth1`` have one shape, two masked texts.
_NAME_RUN = re.compile(r"(?<=[A-Za-z])\d{1,3}(?![\dA-Za-z_])")


class Match:
    """What the miner says about one message.

    ``event`` is ``"new"`` (a template was created), ``"changed"`` (an existing template
    was generalised by this message; its old id is ``previous_id``) or ``"seen"`` (an
    existing template, including one revived after eviction). ``merged_ids`` lists other
    templates this generalisation absorbed (their ids are superseded by ``template_id``
    too). ``is_new_template`` is true when the event is ``"new"`` or ``"changed"`` and the
    resulting id is not known to the store (the miner's ``known`` hook; without a hook,
    every created or generalised template counts as new).
    """

    __slots__ = (
        "content",
        "event",
        "is_new_template",
        "merged_ids",
        "previous_id",
        "template",
        "template_id",
    )

    def __init__(
        self,
        template_id: str,
        template: str,
        content: str,
        event: str,
        is_new_template: bool,
        previous_id: str | None = None,
        merged_ids: tuple[str, ...] = (),
    ) -> None:
        self.template_id = template_id
        self.template = template
        self.content = content
        self.event = event
        self.is_new_template = is_new_template
        self.previous_id = previous_id
        self.merged_ids = merged_ids

    @property
    def variables(self) -> list[str]:
        """The message's values in the template's ``<*>`` slots (computed on demand)."""
        return extract_variables(self.template, self.content) or []

    def __repr__(self) -> str:
        return f"Match({self.template_id!r}, {self.template!r}, event={self.event!r})"


class Miner:
    """Online template miner. Pure: no I/O, no clock unless ``ts`` is left out.

    ``add(content, ts)`` learns from one message and returns its :class:`Match`;
    ``match(content)`` only looks up. ``export_rows()`` returns the templates changed since
    the last export as :class:`TemplateRow`; ``Miner.from_rows(rows)`` rebuilds a miner
    that gives every message the same template id it had before.

    Options (one configuration for every log; the defaults are the benchmarked ones):
    ``similarity`` — share of equal constant tokens for a line to join a template;
    ``min_variants`` / ``min_variants_upper`` — distinct words needed at a position before
    it becomes ``<*>`` (lower-case / capitalised words); ``max_templates`` — live templates
    kept (least recently seen evicted, ``evicted`` counts them); ``cache_size`` — entries
    of each exact-path cache; ``known`` — ``template_id -> bool``, whether the store has
    that template already (for ``Match.is_new_template``); ``empty_values`` — an empty
    value is a value (``logname=`` masks as ``logname=<*>``, a blank-led ``()`` as
    ``(<*>)``); ``prefix_keys`` — a first token whose value is glued to a word
    (``BIOS-e<*>:``) is grouped by that word, not with every line starting with a value;
    ``collapse_lists`` — a repeated unit holding a value becomes the unit and one ``<*>``
    (:func:`collapse_lists`: lists of any length as one shape; off by default, as it buys
    no grouping on the benchmark and costs template text); ``glued_names`` — up to three
    digits ending a word after a letter are part of the name (``eth0``, ``BIOS-e820``).
    The defaults are those chosen on the 12 Loghub-2k systems (``tests.bench.loghub``,
    which also chooses them leaving each system out and scores it).
    """

    def __init__(
        self,
        *,
        similarity: float = 0.6,
        max_templates: int = 20_000,
        cache_size: int = 20_000,
        min_variants: int = 4,
        min_variants_upper: int = 6,
        masker: Masker | None = None,
        known: Callable[[str], bool] | None = None,
        empty_values: bool = True,
        prefix_keys: bool = True,
        collapse_lists: bool = False,
        glued_names: bool = True,
    ) -> None:
        if not 0.0 < similarity <= 1.0:
            raise ValueError("similarity must be in (0, 1]")
        if max_templates < 1 or cache_size < 1:
            raise ValueError("max_templates and cache_size must be positive")
        self.similarity = similarity
        self.max_templates = max_templates
        self.cache_size = cache_size
        self.min_variants = min_variants
        self.min_variants_upper = min_variants_upper
        self._variants: dict[str, set[str]] = {}
        self._masker = masker or Masker(empty_values=empty_values, glued_names=glued_names)
        self.prefix_keys = prefix_keys
        self.collapse_lists = collapse_lists
        self._names = glued_names
        self._known = known
        self._tree = Tree()
        self._cold = Tree()  # evicted templates, kept (bounded) to revive them by id
        self._lru: OrderedDict[Template, Key] = OrderedDict()
        self._cold_lru: OrderedDict[Template, Key] = OrderedDict()
        self._shapes: dict[str, Template] = {}
        self._masked: dict[str, Template] = {}
        self._pending: dict[str, TemplateRow] = {}
        self.lines = 0
        self.evicted = 0
        self.revived = 0

    # -- the hot path ---------------------------------------------------------------------

    def add(self, content: str, ts: float | None = None) -> Match:
        """Learn from one message (the text after the header) and say which template it is."""
        return self._learn(content, time.time() if ts is None else ts)[0]

    def _learn(self, content: str, now: float) -> tuple[Match, Template]:
        self.lines += 1
        digits = shape(content)
        if self._names:  # the digits masking keeps are part of the shape's key
            runs = _NAME_RUN.findall(content)
            if runs:
                digits = "\0".join([digits, *runs])
        tpl = self._shapes.get(digits)
        if tpl is not None and tpl.alive:
            tpl.count += 1
            tpl.last_seen = now
            tpl.dirty = True
            self._lru.move_to_end(tpl)
            return Match(tpl.template_id, tpl.text, content, "seen", False), tpl
        masked = self._masker.mask(content)
        tpl = self._masked.get(masked)
        if tpl is None or not tpl.alive:
            match, tpl = self._search(self._tokens(masked), content, now)
        else:
            tpl.count += 1
            tpl.last_seen = now
            tpl.dirty = True
            self._lru.move_to_end(tpl)
            match = Match(tpl.template_id, tpl.text, content, "seen", False)
        self._remember(digits, masked, tpl)
        return match, tpl

    def match(self, content: str) -> Match | None:
        """The template ``content`` would get, without learning anything; ``None`` if none."""
        tokens = self._tokens(self._masker.mask(content))
        tpl = self._tree.best(key_of(tokens, prefix=self.prefix_keys), tokens, self.similarity)
        if tpl is None or (tpl.tokens != tokens and generalise(tpl.tokens, tokens) != tpl.tokens):
            return None
        return Match(tpl.template_id, tpl.text, content, "seen", False)

    def _tokens(self, masked: str) -> list[str]:
        tokens = masked.split()
        return collapse_lists(tokens) if self.collapse_lists else tokens

    def _remember(self, digits: str, masked: str, tpl: Template) -> None:
        if len(self._shapes) >= self.cache_size:
            self._shapes.clear()  # bounded: cheaper than LRU, refilled by the next repeats
        self._shapes[digits] = tpl
        if len(self._masked) >= self.cache_size:
            self._masked.clear()
        self._masked[masked] = tpl

    def _search(self, tokens: list[str], content: str, now: float) -> tuple[Match, Template]:
        key = key_of(tokens, prefix=self.prefix_keys)
        tpl = self._tree.best(key, tokens, self.similarity)
        if tpl is not None:
            differ = differing(tpl.tokens, tokens)
            if differ and not self._enough_variants(tpl.tokens, tokens, differ):
                tpl = None  # a sibling: too little evidence that these words are variables
        if tpl is None:
            tpl = self._cold.best(key, tokens, 1.0)
            if tpl is not None and not differing(tpl.tokens, tokens):
                self._cold.remove(self._cold_lru.pop(tpl), tpl)
                tpl.alive = True
                self.revived += 1
                self._insert(key, tpl)
            else:
                tpl = Template(tokens, 0, now, now)
                self._insert(key, tpl)
                self._touch(tpl, now)
                return Match(tpl.template_id, tpl.text, content, "new", self._is_new(tpl)), tpl
        self._touch(tpl, now)
        merged = generalise(tpl.tokens, tokens)
        if merged == tpl.tokens:
            return Match(tpl.template_id, tpl.text, content, "seen", False), tpl
        old_id = self._retext(tpl, merged)
        absorbed = self._absorb_siblings(key, tpl)
        match = Match(
            tpl.template_id, tpl.text, content, "changed", self._is_new(tpl), old_id, absorbed
        )
        return match, tpl

    def _touch(self, tpl: Template, now: float) -> None:
        tpl.count += 1
        tpl.last_seen = now
        tpl.dirty = True
        self._lru.move_to_end(tpl)

    def _enough_variants(self, tpl: list[str], tokens: list[str], differ: list[int]) -> bool:
        """Record the words seen at the differing positions; true once they are many.

        Two words seen at one position are more often two events (``Link ok`` / ``Link
        error``, ``... - Begin`` / ``... - End``) than one variable: a constant position
        becomes ``<*>`` only once ``min_variants`` distinct values were seen there.
        Capitalised words (states, enum names: ``VM Started`` / ``VM Stopped``, ``NEW`` /
        ``RUNNING``) are constants more often than user or host names are, so they need
        ``min_variants_upper`` values.
        """
        skeleton = " ".join(PLACEHOLDER if i in differ else t for i, t in enumerate(tpl))
        seen = self._variants.get(skeleton)
        if seen is None:
            if len(self._variants) >= self.cache_size:
                self._variants.clear()
            seen = self._variants[skeleton] = {"\0".join(tpl[i] for i in differ)}
        seen.add("\0".join(tokens[i] for i in differ))
        need = self.min_variants
        if any(v[:1].isupper() for v in seen):
            need = self.min_variants_upper
        return len(seen) >= need

    def _retext(self, tpl: Template, tokens: list[str]) -> str:
        """Generalise ``tpl`` to ``tokens``; its old id is recorded as superseded."""
        old = tpl.row()
        tpl.retext(tokens)
        self._pending[old.template_id] = TemplateRow(
            old.template_id, old.template, old.count, old.first_seen, old.last_seen,
            tpl.template_id,
        )  # fmt: skip
        self._pending.pop(tpl.template_id, None)
        return old.template_id

    def _absorb_siblings(self, key: Key, tpl: Template) -> tuple[str, ...]:
        """Merge into ``tpl`` the templates its generalisation now covers; their ids."""
        absorbed: list[str] = []
        for group_key in {key, (key[0], ANY)}:
            for other in list(self._tree.groups.get(group_key, ())):
                if other is tpl or differing(tpl.tokens, other.tokens):
                    continue
                if generalise(tpl.tokens, other.tokens) != tpl.tokens:
                    continue
                self._tree.remove(self._lru.pop(other), other)
                other.alive = False
                other.merged_into = tpl
                tpl.count += other.count
                tpl.first_seen = min(tpl.first_seen, other.first_seen)
                tpl.last_seen = max(tpl.last_seen, other.last_seen)
                row = other.row()
                self._pending[row.template_id] = TemplateRow(
                    row.template_id, row.template, row.count, row.first_seen, row.last_seen,
                    tpl.template_id,
                )  # fmt: skip
                absorbed.append(row.template_id)
        return tuple(absorbed)

    def _is_new(self, tpl: Template) -> bool:
        return self._known is None or not self._known(tpl.template_id)

    def _insert(self, key: Key, tpl: Template) -> None:
        while len(self._lru) >= self.max_templates:
            self._evict()
        self._tree.add(key, tpl)
        self._lru[tpl] = key

    def _evict(self) -> None:
        old, key = self._lru.popitem(last=False)
        self._tree.remove(key, old)
        old.alive = False
        self.evicted += 1
        if old.dirty:
            self._pending[old.template_id] = old.row()
            old.dirty = False
        while len(self._cold_lru) >= self.max_templates:
            gone, gone_key = self._cold_lru.popitem(last=False)
            self._cold.remove(gone_key, gone)
        self._cold.add(key, old)
        self._cold_lru[old] = key

    def label(self, contents: Iterable[str], ts: float = 0.0) -> list[tuple[str, str]]:
        """Mine ``contents`` and return each one's *final* ``(template_id, template)``.

        A template generalised by a later message is reported in its final form for the
        earlier messages too (as batch parsers and the benchmark's ground truth do).
        """
        refs = [self._learn(content, ts)[1] for content in contents]
        out = []
        for t in refs:
            while t.merged_into is not None:
                t = t.merged_into
            out.append((t.template_id, t.text))
        return out

    # -- persistence as data -------------------------------------------------------------

    def export_rows(self, changed_only: bool = True) -> list[TemplateRow]:
        """Templates as rows: by default only those changed since the last export.

        Includes rows of templates generalised into another one (``superseded_by`` set)
        and of templates evicted since the last export. Marks everything exported clean.
        """
        rows = list(self._pending.values())
        self._pending.clear()
        for tpl in self._lru:
            if tpl.dirty or not changed_only:
                rows.append(tpl.row())
                tpl.dirty = False
        return rows

    @classmethod
    def from_rows(cls, rows: Iterable[TemplateRow], **options: Any) -> Miner:
        """A miner rebuilt from persisted rows (superseded rows are skipped).

        ``options`` are the constructor's keyword arguments. The most recently seen
        ``max_templates`` live rows are loaded, in last-seen order (the LRU order).
        """
        miner = cls(**options)
        live = sorted((r for r in rows if r.superseded_by is None), key=lambda r: r.last_seen)
        loaded: dict[str, Template] = {}
        for row in live[-miner.max_templates :]:
            tokens = miner._current_form(row.template)
            tpl = loaded.get(" ".join(tokens))
            if tpl is None:
                tpl = Template(tokens, row.count, row.first_seen, row.last_seen)
                tpl.dirty = tpl.template_id != row.template_id
                miner._insert(key_of(tokens, prefix=miner.prefix_keys), tpl)
                loaded[tpl.text] = tpl
            else:  # two stored forms of one template: one live row
                tpl.count += row.count
                tpl.first_seen = min(tpl.first_seen, row.first_seen)
                tpl.last_seen = max(tpl.last_seen, row.last_seen)
                tpl.dirty = True
                miner._lru.move_to_end(tpl)
            if tpl.template_id != row.template_id:
                miner._pending[row.template_id] = TemplateRow(
                    row.template_id, row.template, row.count, row.first_seen, row.last_seen,
                    tpl.template_id,
                )  # fmt: skip
        return miner

    def _current_form(self, template: str) -> list[str]:
        """A stored template's tokens as today's masking writes them.

        Masking is idempotent, so a template mined with the current rules comes back
        unchanged; one stored by an earlier version whose masking differed (``logname=``
        is now ``logname=<*>``) gets the text new lines get, and its old id is superseded
        by the new one (exported with the next rows: the id map of that change). A form
        that would change the token count is kept as it was (its lines still fit it).
        """
        tokens = template.split()
        masked = self._masker.mask(" ".join(tokens)).split()
        return masked if len(masked) == len(tokens) else tokens

    # -- introspection -------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._lru)

    def templates(self) -> list[TemplateRow]:
        """Every live template as a row, least recently seen first."""
        return [tpl.row() for tpl in self._lru]


def collapse_lists(tokens: list[str]) -> list[str]:
    """A list of values of any length as one shape: a unit of one to three tokens holding a
    ``<*>`` and repeated right after itself becomes that unit and one ``<*>`` for the rest
    (``node-<*> <ok> node-<*> <ok> node-<*> <ok>`` is ``node-<*> <ok> <*>``), so the same
    event with a longer or shorter list has one token count."""
    if len(tokens) < 2:
        return tokens
    out: list[str] = []
    i, n = 0, len(tokens)
    while i < n:
        for size in (1, 2, 3):
            unit = tokens[i : i + size]
            if len(unit) < size or not any(PLACEHOLDER in t for t in unit):
                continue
            end = i + size
            while tokens[end : end + size] == unit:
                end += size
            if end > i + size:
                out.extend(unit)
                if out[-1] != PLACEHOLDER:
                    out.append(PLACEHOLDER)
                i = end
                break
        else:
            out.append(tokens[i])
            i += 1
    return out

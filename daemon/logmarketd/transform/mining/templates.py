"""Templates as values: the template record, its fingerprint id, and variable extraction.

A template id is a fingerprint of the template text (whitespace-normalised), never a
counter: the same template mined on two hosts, or mined again after it was evicted, has the
same id. When a line generalises a template (a constant position becomes ``<*>``) its text,
and so its id, changes; the old id is then *superseded* by the new one (see
:class:`TemplateRow.superseded_by`).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from logmarketd.transform.mining.masking import PLACEHOLDER

__all__ = ["Template", "TemplateRow", "extract_variables", "template_id"]


def template_id(text: str) -> str:
    """The stable id of a template: 16 hex digits of BLAKE2b over its normalised text."""
    norm = " ".join(text.split())
    # surrogatepass: text decoded with surrogateescape upstream must still get an id.
    return hashlib.blake2b(norm.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


@dataclass(frozen=True, slots=True)
class TemplateRow:
    """One template as plain data: what the store persists and the miner is rebuilt from.

    ``superseded_by`` is set when the template was generalised into (or merged into)
    another one: its row is kept so that ids handed out earlier stay resolvable; a live
    template has ``None``. ``count`` is absolute (lines seen so far), so saving is
    idempotent.
    """

    template_id: str
    template: str
    count: int
    first_seen: float
    last_seen: float
    superseded_by: str | None = None


class Template:
    """A live template inside the miner (mutable; the miner owns it)."""

    __slots__ = (
        "alive",
        "count",
        "dirty",
        "first_seen",
        "last_seen",
        "merged_into",
        "template_id",
        "text",
        "tokens",
    )

    def __init__(self, tokens: list[str], count: int, first_seen: float, last_seen: float) -> None:
        self.tokens = tokens
        self.text = " ".join(tokens)
        self.template_id = template_id(self.text)
        self.count = count
        self.first_seen = first_seen
        self.last_seen = last_seen
        self.dirty = True
        self.alive = True
        self.merged_into: Template | None = None

    def retext(self, tokens: list[str]) -> None:
        """Replace the tokens (a generalisation): text and id follow."""
        self.tokens = tokens
        self.text = " ".join(tokens)
        self.template_id = template_id(self.text)

    def row(self) -> TemplateRow:
        """This template as a persistable row."""
        return TemplateRow(self.template_id, self.text, self.count, self.first_seen, self.last_seen)


_VAR_RE_CACHE: dict[str, re.Pattern[str]] = {}


def extract_variables(template: str, content: str) -> list[str] | None:
    """The substrings of ``content`` that fill the ``<*>`` slots of ``template``, in order.

    Whitespace between tokens matches any run of whitespace. Returns ``None`` when the
    content does not fit the template (possible only for a template the content was not
    mined into).
    """
    rx = _VAR_RE_CACHE.get(template)
    if rx is None:
        parts = template.split(PLACEHOLDER)
        body = "(.*?)".join(r"\s+".join(map(re.escape, p.split(" "))) for p in parts)
        rx = re.compile(rf"\s*{body}\s*", re.DOTALL)
        if len(_VAR_RE_CACHE) >= 4096:
            _VAR_RE_CACHE.clear()
        _VAR_RE_CACHE[template] = rx
    m = rx.fullmatch(content)
    return list(m.groups()) if m else None

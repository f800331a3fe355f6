"""The search structure of the miner: templates grouped by (token count, first token).

Similarity is Drain's share of equal tokens, with masked positions left out (neutral), and
the helpers that decide which positions of a line and a template differ.
"""

from __future__ import annotations

from logmarketd.transform.mining.masking import PLACEHOLDER
from logmarketd.transform.mining.templates import Template

__all__ = ["ANY", "PLACEHOLDER", "Key", "Tree", "differing", "generalise", "key_of"]

ANY = ""  # the group key of templates whose first token is variable

Key = tuple[int, str]


def key_of(tokens: list[str], *, prefix: bool = False) -> Key:
    """The group of a token sequence: its length and first token (``ANY`` if variable).

    ``prefix``: a first token whose value is glued to a word (``BIOS-e<*>:``, ``node-<*>``)
    is grouped by that word (``BIOS-e<*>``), not with every line that starts with a value.
    """
    first = tokens[0] if tokens else ""
    k = first.find(PLACEHOLDER)
    if k < 0:
        return (len(tokens), first)
    if prefix and sum(c.isalpha() for c in first[:k]) >= 2:
        return (len(tokens), first[:k] + PLACEHOLDER)
    return (len(tokens), ANY)


def _similarity(tpl: list[str], toks: list[str]) -> float:
    """Share of equal tokens among the positions where neither side is ``<*>``.

    With no position to compare, two all-variable sequences are alike, but a line that has
    words is not taken by an all-``<*>`` template (``normal`` is not ``12345``).
    """
    same = 0
    compared = 0
    words = False
    for a, b in zip(tpl, toks, strict=True):
        if b != PLACEHOLDER:
            words = True
            if a == PLACEHOLDER:
                continue
        else:
            continue
        compared += 1
        if a == b or _fits(a, b):
            same += 1
    if compared:
        return same / compared
    return 0.0 if words else 1.0


class Tree:
    """Templates grouped by key; a template stays in the group it was created in."""

    __slots__ = ("groups",)

    def __init__(self) -> None:
        self.groups: dict[Key, list[Template]] = {}

    def add(self, key: Key, tpl: Template) -> None:
        """Put ``tpl`` in group ``key``."""
        self.groups.setdefault(key, []).append(tpl)

    def remove(self, key: Key, tpl: Template) -> None:
        """Take ``tpl`` out of group ``key``."""
        group = self.groups[key]
        group.remove(tpl)
        if not group:
            del self.groups[key]

    def best(self, key: Key, tokens: list[str], threshold: float) -> Template | None:
        """The most similar template at or above ``threshold``: own group, then ``ANY``."""
        found = self._best_in(self.groups.get(key), tokens, threshold)
        if found is None and key[1] != ANY:
            found = self._best_in(self.groups.get((key[0], ANY)), tokens, threshold)
        return found

    @staticmethod
    def _best_in(
        group: list[Template] | None, tokens: list[str], threshold: float
    ) -> Template | None:
        if not group:
            return None
        best: Template | None = None
        best_sim = threshold
        for tpl in group:
            sim = _similarity(tpl.tokens, tokens)
            if sim > best_sim or (best is None and sim >= best_sim):
                best, best_sim = tpl, sim
                if sim == 1.0:
                    break
        return best


def _variable(token: str) -> bool:
    """Whether a token is a variable: ``<*>``, or an id with masked parts (``rdd_<*>_<*>``).

    Two different ids at one position (``rdd_<*>_<*>`` / ``broadcast_<*>_piece<*>``) need
    no evidence to become ``<*>``, but they still count against the similarity, so that
    ``HTTPS`` / ``SOCKS<*>`` are two events. A token that starts with a key (``uid=<*>``,
    ``isOverlap:<*>``, ``threshold......<*>``) names its variable: the key is a constant,
    and so is the token.
    """
    cut = len(token)
    for mark in _KEY_MARKS:
        k = token.find(mark)
        if 0 <= k < cut:
            cut = k
    return PLACEHOLDER in token[:cut]


_KEY_MARKS = ("=", ":", "..")


def _fits(pattern: str, token: str) -> bool:
    """Whether ``token`` is ``pattern`` with its one ``<*>`` filled (``chdir(pwd)``)."""
    k = pattern.find(PLACEHOLDER)
    if k < 0 or PLACEHOLDER in token or pattern.count(PLACEHOLDER) != 1:
        return False
    head, tail = pattern[:k], pattern[k + 3 :]
    return len(token) > len(head) + len(tail) and token.startswith(head) and token.endswith(tail)


def differing(tpl: list[str], toks: list[str]) -> list[int]:
    """Positions where the two sides hold different constants (see :func:`_variable`)."""
    return [
        i
        for i, (a, b) in enumerate(zip(tpl, toks, strict=True))
        if a != b
        and a != PLACEHOLDER
        and b != PLACEHOLDER
        and not (_variable(a) and _variable(b))
        and not _fits(a, b)
        and not _fits(b, a)
    ]


def generalise(tpl: list[str], toks: list[str]) -> list[str]:
    """The template covering both: positions that differ become ``<*>``.

    Punctuation both tokens share around the value stays (``[<*>]``, ``<*>,``).
    """
    return [_cover(a, b) for a, b in zip(tpl, toks, strict=True)]


_OPEN = "([{'\""
_CLOSE = ")]}'\",;:."


def _cover(a: str, b: str) -> str:
    if a == b or _fits(a, b):
        return a
    if _fits(b, a):
        return b
    i = 0
    while i < len(a) and i < len(b) and a[i] == b[i] and a[i] in _OPEN:
        i += 1
    j = 0
    while j < len(a) - i and j < len(b) - i and a[-1 - j] == b[-1 - j] and a[-1 - j] in _CLOSE:
        j += 1
    return a[:i] + PLACEHOLDER + (a[len(a) - j :] if j else "")

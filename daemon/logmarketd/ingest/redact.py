"""Secrets (always) and PII (by setting) out of text, before it is stored or sent to a model.

A :class:`Redactor` is configured once (a per-installation key, the PII flag, extra allowlist
patterns) and then applied to any text, one line or a whole window: a PEM block spread over
lines is caught when the whole text is given. Each secret becomes a typed, stable placeholder::

    AKIAIOSFODNN7EXAMPLE  ->  <REDACTED:aws-access-key:1a2b3c>

The six hex digits are a keyed hash (HMAC-SHA256 with the installation's key) of the secret:
the same secret gives the same placeholder, so findings still group by it, and nothing that
leaves the host can be reversed or checked against a guess without the key.

How it stays fast (see ``tests/bench/redact.py``): the text is lowercased once, each rule runs
only when one of its keywords occurs in it (a substring test), and most regexes begin with a
literal that ``re`` scans for quickly. Entropy floors and allowlists are checked only on
matches. Redaction is idempotent: placeholders already in the text are left as they are.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import math
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from pydantic import BaseModel

from logmarketd.ingest.redact_rules import PII_RULES, PLACEHOLDER_VALUE, SECRET_RULES, Rule

__all__ = [
    "PLACEHOLDER",
    "Hit",
    "Redactor",
    "default_redactor",
    "load_or_create_key",
    "redact",
    "redact_model",
    "shannon_entropy",
]

# The placeholder this module writes; also how it recognises its own earlier work.
PLACEHOLDER = re.compile(r"<REDACTED:[a-z0-9-]{1,40}:[0-9a-f]{6}>")
_HASH_HEX = 6
_VALUE_GROUPS = ("secret", "dq", "sq", "bare")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Hit:
    """One redacted span: where it was in the input, what type, and its placeholder.

    The secret itself is deliberately not kept: a report may be logged.
    """

    rule: str
    start: int
    end: int
    line: int
    placeholder: str


def shannon_entropy(value: str) -> float:
    """Shannon entropy of ``value`` in bits per character (0 for an empty string)."""
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _value_span(match: re.Match[str]) -> tuple[int, int]:
    index = match.re.groupindex
    for name in _VALUE_GROUPS:
        if name in index and match.group(name) is not None:
            return match.span(name)
    return match.span()


# From this size on, a caller that gives ``windows`` (the Security Guardian reporting a large
# log) has a rule's regex run only on the spans it gives for the rule's keywords. Redaction
# for storage never does: it searches the whole text, so a secret several lines below its
# keyword is still found.
WINDOWED_CHARS = 64 * 1024
# keywords -> spans of the text, sorted and disjoint (``Context.windows``: each line holding
# one of them, with the line before and after it)
Windows = Callable[[Sequence[str]], list[tuple[int, int]]]


class Redactor:
    """Finds secrets (and PII when ``pii``) and replaces them with keyed placeholders.

    ``key`` is the installation's secret (at least 16 bytes) that makes placeholders stable
    across restarts and irreversible elsewhere. ``allowlist`` holds extra regexes (strings or
    compiled) for values that must be kept (matched against the whole candidate value).
    ``rules`` replaces the built-in secret rule table (mostly for tests and benchmarks).
    """

    def __init__(
        self,
        key: bytes,
        *,
        pii: bool = False,
        allowlist: Iterable[str | re.Pattern[str]] = (),
        rules: Sequence[Rule] | None = None,
    ) -> None:
        if len(key) < 16:
            raise ValueError("the redaction key must be at least 16 bytes")
        self._key = key
        self.pii = pii
        table = tuple(SECRET_RULES if rules is None else rules)
        self._secret_rules = table
        self._rules: tuple[Rule, ...] = table + (PII_RULES if pii else ())
        self._folded = [
            re.compile(r.regex.pattern, r.regex.flags | re.IGNORECASE) for r in self._rules
        ]
        self._allow = tuple(re.compile(p) if isinstance(p, str) else p for p in allowlist)

    def with_pii(self) -> Redactor:
        """This redactor with PII rules on whatever its own setting: same key (so the same
        placeholders), rules and allowlist. For values kept only as examples (a template's
        variable values), which no analysis needs verbatim."""
        if self.pii:
            return self
        return Redactor(self._key, pii=True, allowlist=self._allow, rules=self._secret_rules)

    @property
    def rules(self) -> tuple[Rule, ...]:
        """The rules in force, most specific first."""
        return self._rules

    def placeholder(self, rule_id: str, secret: str) -> str:
        """The placeholder for ``secret`` found by ``rule_id`` (stable for a given key)."""
        digest = hmac.new(self._key, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
        return f"<REDACTED:{rule_id}:{digest.hexdigest()[:_HASH_HEX]}>"

    def redact(self, text: str) -> str:
        """``text`` with every secret (and PII when configured) replaced by its placeholder."""
        return self.redact_with_report(text)[0]

    def redact_with_report(self, text: str) -> tuple[str, list[Hit]]:
        """The redacted text and one :class:`Hit` per replaced span, in text order."""
        hits = self.find(text)
        if not hits:
            return text, []
        out: list[str] = []
        pos = 0
        for hit in hits:
            out.append(text[pos : hit.start])
            out.append(hit.placeholder)
            pos = hit.end
        out.append(text[pos:])
        return "".join(out), hits

    def find(
        self, text: str, windows: Windows | None = None, lowered: str | None = None
    ) -> list[Hit]:
        """One :class:`Hit` per span :meth:`redact` would replace, in text order; the text
        is not changed. ``text[hit.start:hit.end]`` is the secret; ``hit.rule`` names a rule of
        :attr:`rules` (its label and severity say what leaked). ``lowered`` is
        ``text.lower()`` when the caller has it already (a large log: one copy less)."""
        hits: list[Hit] = []
        pos = 0
        line = 1
        for start, end, rule_id in self._find(text, windows, lowered):
            line += text.count("\n", pos, start)
            hits.append(Hit(rule_id, start, end, line, self.placeholder(rule_id, text[start:end])))
            line += text.count("\n", start, end)
            pos = end
        return hits

    def redact_lines(self, lines: Iterable[str]) -> list[str]:
        """Each line redacted on its own (a multi-line PEM block needs :meth:`redact`)."""
        return [self.redact(line) for line in lines]

    def may_hold_secrets(self, text: str) -> bool:
        """The cheap prefilter alone: False only when no rule could match in ``text``."""
        lowered = text.lower()
        return any(not r.keywords or any(k in lowered for k in r.keywords) for r in self._rules)

    def redact_value(self, value: Any) -> Any:
        """Every string inside a JSON-like value (dicts and lists, nested) redacted."""
        return self._redact_value(value)

    def redact_model(self, model: M) -> M:
        """A copy of a pydantic model with every string field redacted, nested ones included.

        Used on findings before they are stored: evidence lines, locations, descriptions.
        """
        data = model.model_dump(mode="python", by_alias=False)
        return type(model).model_validate(self._redact_value(data), by_name=True)

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {k: self._redact_item(k, v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._redact_value(v) for v in value)
        return value

    def _redact_item(self, key: Any, value: Any) -> Any:
        """A dict value, judged with its key: ``{"password": "hunter2"}`` is a secret even
        though neither string is one alone, exactly as ``password=hunter2`` would be."""
        if not isinstance(value, str) or not isinstance(key, str):
            return self._redact_value(value)
        joined = f"{key}={value}"
        redacted = self.redact(joined)
        if redacted == joined:
            return value
        head = f"{key}="
        return redacted[len(head) :] if redacted.startswith(head) else self.redact(value)

    # -- detection ----------------------------------------------------------------------

    @staticmethod
    def _matches(
        rule: Rule, regex: re.Pattern[str], target: str, spans: list[tuple[int, int]] | None
    ) -> Iterator[re.Match[str]]:
        """The rule's matches in ``target``; given ``spans`` (of a large text: around the
        rule's keywords), searched only in them. A rule without keywords, or one whose
        matches span lines (a PEM block), is searched in the whole text."""
        if spans is None or not rule.keywords or rule.multiline:
            yield from regex.finditer(target)
            return
        for start, end in spans:
            yield from regex.finditer(target, start, end)

    def _find(
        self, text: str, windows: Windows | None = None, lowered: str | None = None
    ) -> list[tuple[int, int, str]]:
        """Non-overlapping (start, end, rule id) spans to replace, in text order."""
        if lowered is None or len(lowered) != len(text):
            lowered = text.lower()
        candidates: list[tuple[int, int, int, str]] = []  # start, priority, end, rule
        blocked_starts, blocked_ends = _placeholder_spans(text, lowered)
        same_length = len(lowered) == len(text)
        if not same_length or len(text) < WINDOWED_CHARS:
            windows = None
        for priority, rule in enumerate(self._rules):
            where: list[tuple[int, int]] | None = None
            if windows is not None and rule.keywords:
                # a keyword occurs exactly when it gives a window (none holds a newline);
                # windows come from cached scans, where each ``in`` below is a text pass
                where = windows(rule.keywords)
                if not where:
                    continue
            elif rule.keywords and not any(k in lowered for k in rule.keywords):
                continue
            regex, target = rule.regex, text
            if rule.lowercase:
                if same_length:
                    target = lowered
                else:  # lower() changed the length (e.g. "İ"): offsets would not map back
                    regex = self._folded[priority]
            for match in self._matches(rule, regex, target, where):
                if rule.word_start and match.start() and _is_word(text[match.start() - 1]):
                    continue
                start, end = _value_span(match)
                if start == end:
                    continue
                if not self._is_secret(rule, text[start:end]):
                    continue
                candidates.append((start, priority, end, rule.id))
        if not candidates:
            return []
        candidates.sort()
        spans: list[tuple[int, int, str]] = []
        last_end = -1
        # Leftmost first; at one start the more specific rule (earlier in the table) names it.
        for start, _priority, end, rule_id in candidates:
            if blocked_starts:
                # The last placeholder starting before this span's end is the only one that
                # can overlap it (placeholders are sorted and disjoint).
                i = bisect.bisect_left(blocked_starts, end) - 1
                if i >= 0 and blocked_ends[i] > start:
                    continue
            if start < last_end:
                # Overlaps the span already taken: widen it rather than leave a tail behind.
                if end > last_end:
                    spans[-1] = (spans[-1][0], end, spans[-1][2])
                    last_end = end
                continue
            spans.append((start, end, rule_id))
            last_end = end
        return spans

    def _is_secret(self, rule: Rule, value: str) -> bool:
        if PLACEHOLDER_VALUE.fullmatch(value) or PLACEHOLDER.search(value):
            return False
        if rule.allow is not None and rule.allow.fullmatch(value):
            return False
        if rule.entropy and shannon_entropy(value) < rule.entropy:
            return False
        return not any(a.fullmatch(value) for a in self._allow)


def _placeholder_spans(text: str, lowered: str) -> tuple[list[int], list[int]]:
    """Starts and ends of the placeholders already in ``text``: they block any overlapping
    candidate (idempotence)."""
    starts: list[int] = []
    ends: list[int] = []
    if "<redacted:" in lowered:
        for m in PLACEHOLDER.finditer(text):
            starts.append(m.start())
            ends.append(m.end())
    return starts, ends


_default: Redactor | None = None


def load_or_create_key(path: str | os.PathLike[str]) -> bytes:
    """The installation's redaction key from ``path``, created (32 random bytes, mode 0600) once.

    Losing the file only changes future placeholders; it never exposes a secret. A file that
    holds no usable key is a ``ValueError`` naming it (never replaced here: the placeholders
    already stored were made with it); one that cannot be read or created, an ``OSError``.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        fd = -1
    if fd < 0:
        with open(path, "rb") as f:
            text = f.read().strip()
        try:
            key = bytes.fromhex(text.decode("ascii"))
        except ValueError:  # UnicodeDecodeError included: any byte that is not hex
            raise ValueError(f"{os.fspath(path)}: not a hex redaction key") from None
        if len(key) < 16:
            raise ValueError(f"{os.fspath(path)}: redaction key shorter than 16 bytes")
        return key
    key = os.urandom(32)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(key.hex() + "\n")
    return key


def default_redactor() -> Redactor:
    """The process-wide redactor for callers without configuration.

    Its key is random per process: placeholders are stable within one run, not across runs
    (a daemon passes its installation key to its own :class:`Redactor`).
    """
    global _default
    if _default is None:
        _default = Redactor(os.urandom(32))
    return _default


def redact(text: str) -> str:
    """Redact secrets from ``text`` with the process-wide default :class:`Redactor`."""
    return default_redactor().redact(text)


def redact_model(model: M) -> M:
    """Redact every string field of a pydantic model with the default :class:`Redactor`."""
    return default_redactor().redact_model(model)

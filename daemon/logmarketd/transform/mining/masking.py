"""Masking: variable parts of a message become ``<*>`` before any clustering.

Masking is data (one ordered list of named patterns, compiled into one alternation), so a
line is scanned once. The order is the priority at one position: composite shapes first
(URL, e-mail, UUID, date-time, address with port, size with unit, duration) so that their
digits are not cut into pieces by the generic number rule that comes last.

Two rules carry most of the accuracy and guard against the failures measured in drain3:

- whole-token ids (UUIDs, hex ids such as ``9f4ef63``) are masked as one token, never digit
  by digit: masking only the digits of ``de9231d`` leaves ``de<*>d``, a different token for
  every id, and every id its own cluster;
- multi-word variables (``1190 bytes (1.16 KB)``, ``<1 sec``, ``"View Lock"``) and runs of
  adjacent variables (``IRQs 3 4 5 6``) collapse into one ``<*>``, so a variable's width
  never changes the token count of its event.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

__all__ = [
    "DEFAULT_PATTERNS",
    "DISPLAY_PATTERNS",
    "EMPTY_VALUE",
    "GLUED_NAMES_DIGITS",
    "PLACEHOLDER",
    "Masker",
    "shape",
]

PLACEHOLDER = "<*>"

_HEX = r"[0-9a-fA-F]"
_UNIT_SIZE = r"(?:[KMGTP]i?B|[kKMG]b|bytes?|B)"
_UNIT_TIME = r"(?:ms|us|µs|ns|msecs?|secs?|seconds?|s|mins?|minutes?|h|hrs?|hours?|days?)"
_NUM = r"[-+]?\d+(?:\.\d+)?"
_METHODS = ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "CONNECT", "TRACE")

# (name, regex). Every match becomes one placeholder; a quoted value keeps its quotes
# (see _replace) and a key=value keeps its key (the value pattern looks behind for it).
DEFAULT_PATTERNS: Sequence[tuple[str, str]] = (
    ("url", r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,15}://[^\s\"'<>]+"),
    # An HTTP request line keeps its method ("GET <*>" and "POST <*>" are two events).
    (
        "request",
        "(?:" + "|".join(f'(?<="{m} )' for m in _METHODS) + ")"
        r"[^\"\s]+(?: HTTP/\d(?:\.\d)?)?(?=\")",
    ),
    ("email", r"\b[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b"),
    ("uuid", rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"),
    # MAC addresses and other hardware ids written as hex pairs (FF:F2:9F:16:EB:...).
    (
        "mac",
        r"(?<![\w:-])[0-9a-fA-F]{2}(?P<sep>[:-])[0-9a-fA-F]{2}(?:(?P=sep)[0-9a-fA-F]{2}){2,}(?![\w:-])",
    ),
    (
        "ipv6",
        rf"(?<![\w:.])(?:(?:{_HEX}{{1,4}}:){{7}}{_HEX}{{1,4}}"
        rf"|(?=[0-9a-fA-F:]*::)(?=:*{_HEX})(?:{_HEX}{{1,4}}(?::{_HEX}{{1,4}})*)?::"
        rf"(?:{_HEX}{{1,4}}(?::{_HEX}{{1,4}})*)?)(?![\w:])",
    ),
    (
        "datetime",
        r"\b\d{4}[-/.]\d{1,2}[-/.]\d{1,2}(?:[T ]\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?"
        r"(?:Z|[+-]\d{2}:?\d{2})?)?\b"
        r"|\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
        r" +\d{1,2} \d{2}:\d{2}:\d{2}(?: \d{4})?\b"
        r"|\b\d{1,2}/(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2}"
        r"(?: [+-]\d{4})?"
        r"|\b\d{1,2}:\d{2}(?::\d{2})?(?:[.,]\d+)?\b",
    ),
    # Java prints socket addresses as host/1.2.3.4:port or /1.2.3.4:port: one value.
    (
        "ipv4",
        r"(?<![\w./-])(?:[\w.-]*/)?\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?(?!\.?\w)",
    ),
    # host:port — the host part of an endpoint is as variable as its port.
    # Host labels are all lower or all upper case (``state.clipTopAmount:12`` is no host);
    # a host has a dot or a dash (``time:5`` is a key and a value).
    (
        "endpoint",
        r"(?<![\w.-])(?=[\w.-]*[.-])(?:[a-z0-9-]+|[A-Z0-9-]+)(?:\.(?:[a-z0-9-]+|[A-Z0-9-]+))*"
        r":\d{1,5}(?!\.?\w)",
    ),
    ("winpath", r"\b[A-Za-z]:\\[^\s\"'<>]*"),
    ("path", r"(?<![\w/.])(?:~|\.{1,2})?(?:/[\w.@%+~:,-]*){2,}"),
    ("hex", rf"\b\d[xX]{_HEX}+\b|(?<![\w-])(?={_HEX}*\d)(?={_HEX}*[a-fA-F]){_HEX}{{6,}}(?![\w-])"),
    ("size", rf"(?<![\w.]){_NUM} ?{_UNIT_SIZE}(?: \({_NUM} ?{_UNIT_SIZE}\))?(?![\w])"),
    ("duration", rf"(?<![\w.])[<>~]?{_NUM} ?{_UNIT_TIME}(?![\w])"),
    (
        "quoted",
        rf"(?<![\w\\])\"(?!(?:{'|'.join(_METHODS)}) |\s)[^\"\n]*\"(?![\w])"
        r"|(?<![\w\\])'(?!\s)[^'\n]*'(?![\w])",
    ),
    ("bool", r"(?<![\w-])(?i:true|false|null)(?![\w-])"),
    # A value directly followed by "(" names a constructor (bounds=Rect(0, 0)): kept.
    (
        "kv",
        r"(?<=[\w\]]=)(?>[^\s,;()\[\]{}\"'=]+|\{[^{}\s]*\}|\([^()\s]*\)|\[[^\[\]\s]*\])+"
        r"(?!\()",
    ),
    # Ids joined by underscores (blk_-123, attempt_1445_0020_m_000000_0) are one value.
    ("ident", r"(?<![\w-])(?=[\w-]*_-?\d)[\w-]*\w"),
    ("number", r"(?<![\w.])[-+]?\d+(?:\.\d+)*(?![\w])"),
    ("digits", r"(?<![A-Za-z0-9])-\d+|\d+"),
)

# Optional fields: a value that is sometimes empty (``logname=``, ``()``, ``""``) is an
# empty value, not a different event: with ``Masker(empty_values=True)`` the empty slot
# gets its placeholder (``logname=<*>``, ``(<*>)``) as a filled one does. Zero-width: the
# text keeps every character. A pair glued to a word (``init()``) is a call, not a field.
EMPTY_VALUE = (
    "empty",
    r"(?<=[\w\]]=)(?=[\s,;]|$)|(?:(?<=^[(\[\"'])|(?<=\s[(\[\"']))(?=[)\]\"'](?:[\s,;:.]|$))",
)

# Names ending in a few digits (``eth0``, ``ssh2``, ``BIOS-e820``): with
# ``Masker(glued_names=True)`` a run of at most three digits glued after a letter, ending its
# word, is part of the name; longer runs and runs inside a word (``a1b2``) are values.
GLUED_NAMES_DIGITS = (
    "digits",
    r"(?<![A-Za-z0-9])-\d+|(?<![A-Za-z\d])\d+|(?<!\d)\d{4,}|(?<!\d)\d+(?=[A-Za-z_])",
)

# A shown template (the analysis agents' finding titles and keys): only timestamps, ids,
# addresses and numbers vary, each as a typed placeholder (``<ts>``, ``<uuid>``, ``<hex>``,
# ``<ip>``, ``<n>``); paths, quoted names and key=values stay, since they tell findings apart.
DISPLAY_PATTERNS: Sequence[tuple[str, str]] = (
    ("ts", r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
    ("uuid", rf"\b{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}\b"),
    ("hex", r"\b0x[0-9a-fA-F]+\b|\b[0-9a-f]{12,}\b"),
    ("ip", r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"),
    # A minus glued to a word (BP-10.1.2.3, blk_-123) is a separator, not a sign.
    ("n", r"(?<![A-Za-z])(?:(?<![\w.])-)?\d+(?:\.\d+)?"),
)

# Characters a pattern cannot match without (any one of the sets, all of its characters):
# when a line lacks them the pattern is left out of the alternation for that line.
_NEEDS: dict[str, tuple[frozenset[str], ...]] = {
    "url": (frozenset(":/"),),
    "request": (frozenset('"'),),
    "email": (frozenset("@"),),
    "uuid": (frozenset("-"),),
    "ipv6": (frozenset(":"),),
    "endpoint": (frozenset(":"),),
    "winpath": (frozenset(":\\"),),
    "path": (frozenset("/"),),
    "quoted": (frozenset('"'), frozenset("'")),
    "kv": (frozenset("="),),
    "mac": (frozenset(":"), frozenset("-")),
    "empty": (frozenset("="), frozenset("("), frozenset("["), frozenset('"'), frozenset("'")),
}
_TRIGGER_CHARS = re.compile(r"[:/\"'@=\\(\[-]")

# Placeholders separated only by blanks are one variable of varying width; so is a list of
# three or more ids with masked parts (``an123 an124 an125``: host lists of any length).
_RUN = re.compile(r"<\*>(?:[ \t]+<\*>)+")
_ID = r"[\w.-]*<\*>[\w.-]*"
_ID_RUN = re.compile(rf"(?<!\S){_ID}(?:[ \t]+{_ID}){{2,}}(?!\S)")
_GLUED = re.compile(r"\S<\*>|<\*>\S")
_ADJACENT = re.compile(r"<\*>(?:<\*>)+")  # two values with nothing between are one
_MAX_PASSES = 4
_SETTLED_SIZE = 4096
_SETTLED: dict[tuple[tuple[str, str], ...], dict[str, str]] = {}


class Masker:
    """Replaces the variable parts of a message with ``<*>``.

    ``mask(text)`` returns the masked text (the key of the exact fast path);
    ``mask_with_values(text)`` also returns the masked-out substrings in order.
    ``typed``: each part becomes ``<name>`` after its pattern's name instead (``<n>``,
    ``<ts>``), and adjacent parts are not merged (``DISPLAY_PATTERNS`` are meant for this).
    ``empty_values`` adds :data:`EMPTY_VALUE` (an empty field gets its placeholder);
    ``glued_names`` uses :data:`GLUED_NAMES_DIGITS` for the last rule (``eth0`` is a name).
    Untyped masking is idempotent: ``mask(mask(x)) == mask(x)``.
    """

    __slots__ = ("_by_chars", "_patterns", "_settled", "_typed")

    def __init__(
        self,
        patterns: Sequence[tuple[str, str]] = DEFAULT_PATTERNS,
        *,
        typed: bool = False,
        empty_values: bool = False,
        glued_names: bool = False,
    ) -> None:
        if glued_names:
            patterns = [GLUED_NAMES_DIGITS if n == "digits" else (n, p) for n, p in patterns]
        self._patterns = (*patterns, EMPTY_VALUE) if empty_values else tuple(patterns)
        self._typed = typed
        self._by_chars: dict[frozenset[str], re.Pattern[str]] = {}
        # shared by the maskers of one pattern list: what a masked text settles to is theirs
        self._settled = _SETTLED.setdefault(self._patterns, {})

    def _regex_for(self, text: str) -> re.Pattern[str]:
        """The alternation without the patterns whose required characters ``text`` lacks.

        A pattern tried at every position costs even when it cannot match: dropping the
        URL pattern from a line without ``:`` and ``/`` is cheaper than letting it fail
        at every word. One scan finds which trigger characters the line has.
        """
        chars = frozenset(_TRIGGER_CHARS.findall(text))
        rx = self._by_chars.get(chars)
        if rx is None:
            body = "|".join(
                f"(?P<{n}>{p})"
                for n, p in self._patterns
                if n not in _NEEDS or any(need <= chars for need in _NEEDS[n])
            )
            rx = _compile(body)
            self._by_chars[chars] = rx
        return rx

    def mask(self, text: str) -> str:
        """Return ``text`` with every variable part replaced by ``<*>`` (typed: ``<name>``)."""
        if self._typed:
            return self._regex_for(text).sub(_typed, text)
        out = self._once(text)
        # Idempotent: a placeholder glued to other characters changes what its neighbours
        # look like (``1//`` gives ``<*>//``, whose ``//`` is now a path), so masking runs
        # again until nothing changes. A placeholder between blanks changes no neighbour.
        # What a masked text settles to depends on that text alone: kept (bounded), since
        # masked texts repeat far more than lines do.
        if not _GLUED.search(out):
            return out
        settled = self._settled.get(out)
        if settled is None:
            settled = first = out
            for _ in range(_MAX_PASSES):
                again = self._once(settled)
                if again == settled:
                    break
                settled = again
            if len(self._settled) >= _SETTLED_SIZE:
                self._settled.clear()
            self._settled[first] = settled
        return settled

    def _once(self, text: str) -> str:
        out = self._regex_for(text).sub(_replace, text)
        if "<*><*>" in out:
            out = _ADJACENT.sub(PLACEHOLDER, out)
        if "<*> " in out or "<*>\t" in out:
            out = _RUN.sub(PLACEHOLDER, out)
            if out.count(PLACEHOLDER) >= 3:
                out = _ID_RUN.sub(PLACEHOLDER, out)
        return out

    def mask_with_values(self, text: str) -> tuple[str, list[str]]:
        """The masked text and the masked-out values, left to right.

        Runs of adjacent placeholders are not merged here (one value per match), so the
        text can differ from :meth:`mask`'s; the miner reads a message's values from its
        template instead (:func:`~logmarketd.transform.mining.templates.extract_variables`).
        """
        values: list[str] = []
        parts: list[str] = []
        last = 0
        for m in self._regex_for(text).finditer(text):
            start, end = m.span()
            kind = m.lastgroup
            if kind == "quoted":
                start += 1
                end -= 1
            parts.append(text[last:start])
            parts.append(f"<{kind}>" if self._typed else PLACEHOLDER)
            values.append(text[start:end])
            last = end
        parts.append(text[last:])
        return "".join(parts), values


@functools.lru_cache(maxsize=256)
def _compile(body: str) -> re.Pattern[str]:
    # Nothing can start in the middle of a word except digits and a key=value's value:
    # this gate rejects most positions with three cheap checks instead of trying every
    # alternative there. Compiled once per process for each distinct alternation.
    return re.compile(rf"(?:(?<![A-Za-z0-9_])|(?=[-+\d])|(?<==))(?:{body})")


def _replace(m: re.Match[str]) -> str:
    if m.lastgroup == "quoted":
        q = m.group()[0]
        return f"{q}{PLACEHOLDER}{q}"
    return PLACEHOLDER


def _typed(m: re.Match[str]) -> str:
    return f"<{m.lastgroup}>"


_DIGITS = bytes.maketrans(b"123456789", b"000000000")
_ID_RUN_SHAPE = re.compile(r"[0-9a-fA-F]*\d[0-9a-fA-F]*")


def shape(text: str, *, ids: bool = False) -> str:
    """A line's shape: the cheap key of its template, no masking.

    Default: every digit becomes ``0``. Two texts of one shape differ only in the values of
    their digits, never in their positions, so whatever depends on positions alone (all of
    :class:`Masker`'s patterns) treats them alike: the miner's exact fast path and the
    uniqueness score's template ids. (Through UTF-8 bytes: ``bytes.translate`` is an order
    of magnitude faster than ``str.translate``.)

    ``ids=True``: every run of hex characters holding a digit becomes one ``0``, so numbers
    of any width and hex ids collapse too: a coarser key that groups the lines one statement
    printed (one regex pass, where masking takes several).
    """
    if ids:
        return _ID_RUN_SHAPE.sub("0", text)
    raw = text.encode("utf-8", "surrogatepass").translate(_DIGITS)
    return raw.decode("utf-8", "surrogatepass")

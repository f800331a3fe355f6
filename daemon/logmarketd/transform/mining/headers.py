"""Header parsing: cut a raw log line into header fields and the message (``Content``).

A *log format* is written in the Loghub style, ``'<Date> <Time> <Level> <Component>:
<Content>'``: each ``<Name>`` is a field, the text between fields is a regular-expression
fragment (``\\[`` is a literal bracket, ``(...)?`` an optional part) and any run of spaces
matches any run of whitespace. The last field takes the rest of the line.

Without a format, :func:`detect_format` picks, from a sample of lines, one of the common
shapes (ISO timestamps, syslog, Apache/nginx access and error logs, Python logging's default,
JSON lines) or the header :func:`learn_format` reads off the sample's columns, whichever cuts
most header text while leaving a message; a line that does not fit its format is kept whole
as its own message. :class:`HeaderCutter` does the same for a stream, batch after batch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from logmarketd.errors import LogmarketdError

__all__ = [
    "KNOWN_FORMATS",
    "HeaderCutter",
    "HeaderParser",
    "LogFormatError",
    "ParsedLine",
    "detect_format",
    "learn_format",
]


class LogFormatError(LogmarketdError, ValueError):
    """A log format string cannot be turned into a parser."""


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One raw line cut into its header ``fields`` and its message ``content``.

    ``matched`` is false when the line did not fit the format (the whole line is then the
    content and ``fields`` is empty).
    """

    content: str
    fields: dict[str, str]
    matched: bool = True


_FIELD = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")

# Common shapes, most specific first. Names follow the Loghub field vocabulary.
KNOWN_FORMATS: dict[str, str] = {
    "json": "json",
    # An access log's message is its request and what answered it: the header ends at the
    # time (cutting the request too left every line an empty message).
    "apache-access": r"<Host> <Ident> <User> \[<Timestamp>\] <Content>",
    "apache-error": r"\[<Timestamp>\] \[<Level>\]( \[pid <Pid>(:tid <Tid>)?\])?( \[client <Client>\])? <Content>",
    "python-logging": r"<Date> <Time>,<Msecs> - <Logger> - <Level> - <Content>",
    "iso-level-logger": r"<Date>[T ]<Time> \[?<Level>\]? \[<Thread>\] <Component>: <Content>",
    "iso-level-component": r"<Date>[T ]<Time> (- )?<Level> <Component>: <Content>",
    "iso-level": r"<Date>[T ]<Time> \[?<Level>\]? <Content>",
    "iso": r"<Date>[T ]<Time> <Content>",
    "syslog": r"<Month> <Day> <Time> <Host> <Component>(\[<Pid>\])?: <Content>",
    "syslog-rfc5424": r"\<<Pri>\><Version> <Timestamp> <Host> <App> <Procid> <Msgid> <Content>",
}

_FIELD_RX: dict[str, str] = {
    "Date": r"\d{2,4}[-/.]\d{1,2}[-/.]\d{1,4}",
    "Time": r"\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
    "Level": r"(?i:TRACE|DEBUG|INFO|NOTICE|WARN|WARNING|ERROR|ERR|CRITICAL|CRIT|FATAL|SEVERE|ALERT|EMERG|[DIWEVF])",
    "Month": r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)",
    "Day": r"\d{1,2}",
    "Msecs": r"\d{3}",
    "Status": r"\d{3}",
    "Size": r"(?:\d+|-)",
    "Pid": r"\d+",
    "Thread": r"[^\]]+",
    "Timestamp": r"[^\]]+",
    "Request": r"[^\"]*",
    "Referer": r"[^\"]*",
    "Agent": r"[^\"]*",
    "Pri": r"\d{1,3}",
    "Version": r"\d",
    "Bracket": r"(?:[^\[\]]|\[[^\[\]]*\])*",  # one level of nested brackets
    # Learned components (see learn_format): one to three words, then `` - `` or ``:``.
    "Program": r"\S+(?:\s+\S+){0,2}?",
    "Source": r"(?:\S+\s+){0,2}?\S+?",
}


class HeaderParser:
    """Cuts raw lines with one log format.

    ``strict`` formats (auto-detected ones) constrain well-known fields (``Date``,
    ``Time``, ``Level``...) to their usual shapes; a user-given format matches any text in
    every field, as Loghub's tools do.
    """

    def __init__(self, log_format: str, *, strict: bool = False) -> None:
        self.log_format = log_format
        self._json = log_format == "json"
        if self._json:
            self._rx = None
            return
        names = _FIELD.findall(log_format)
        if "Content" not in names:
            raise LogFormatError(f"log format has no <Content> field: {log_format!r}")
        if len(set(names)) != len(names):
            raise LogFormatError(f"log format repeats a field: {log_format!r}")
        parts = _FIELD.split(log_format)
        pattern = []
        for i, part in enumerate(parts):
            if i % 2 == 0:
                pattern.append(re.sub(" +", r"\\s+", part))
            elif part == "Content":
                pattern.append(f"(?P<{part}>.*)")
            else:
                # Strict fields never span blanks: with several lazy ``.*?`` fields a line
                # with long runs of spaces backtracks for milliseconds.
                rx = _FIELD_RX.get(part.rstrip("0123456789"), r"\S+") if strict else ".*?"
                pattern.append(f"(?P<{part}>{rx})")
        try:
            self._rx = re.compile("^" + "".join(pattern) + "$", re.DOTALL)
        except re.error as exc:
            raise LogFormatError(f"log format is not a valid pattern: {exc}") from exc

    def parse(self, line: str) -> ParsedLine:
        """Cut one line (without its line end); a line that does not fit stays whole."""
        if self._rx is None:
            return _parse_json(line)
        m = self._rx.match(line)
        if m is None:
            return ParsedLine(line, {}, False)
        fields = {k: v for k, v in m.groupdict().items() if v is not None}
        content = fields.pop("Content")
        return ParsedLine(content, fields)


_MESSAGE_KEYS = ("message", "msg", "log", "text", "event", "body")


def _parse_json(line: str) -> ParsedLine:
    try:
        obj = json.loads(line)
    except ValueError:
        return ParsedLine(line, {}, False)
    if not isinstance(obj, dict):
        return ParsedLine(line, {}, False)
    for key in _MESSAGE_KEYS:
        value = obj.get(key)
        if isinstance(value, str):
            fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in obj.items()}
            del fields[key]
            return ParsedLine(value, fields)
    return ParsedLine(line, {}, False)


def detect_format(sample: Iterable[str], candidates: Sequence[str] | None = None) -> str:
    """The format that cuts most header text off ``sample`` (else ``<Content>``).

    Candidates are the known formats, then the one :func:`learn_format` builds from the
    sample's columns. A candidate must fit more than half of the lines *with a message
    left*: a format that swallows the message (an empty content) does not fit that line.
    Among those that fit, the one removing the most header characters wins (the earlier on
    a tie: known formats before the learned one).
    """
    lines = [line for line in sample if line.strip()]
    if not lines:
        return "<Content>"
    names = list(candidates or KNOWN_FORMATS)
    formats = [KNOWN_FORMATS.get(name, name) for name in names]
    if candidates is None:
        learned = learn_format(lines)
        if learned is not None:
            formats.append(learned)
    best, best_cut = "<Content>", 0
    for fmt in formats:
        parser = HeaderParser(fmt, strict=True)
        hits = cut = 0
        for line in lines:
            parsed = parser.parse(line)
            if parsed.matched and parsed.content.strip():
                hits += 1
                cut += len(line) - len(parsed.content)
        if hits > len(lines) / 2 and cut > best_cut:
            best, best_cut = fmt, cut
    return best


# -- learning a header from a sample's columns --------------------------------------------

_TOKEN = re.compile(r"\[(?:[^\[\]]|\[[^\[\]]*\])*\]|\S+")
_LEVELS = frozenset(
    [
        "TRACE",
        "DEBUG",
        "INFO",
        "NOTICE",
        "WARN",
        "WARNING",
        "ERROR",
        "ERR",
        "CRITICAL",
        "CRIT",
        "FATAL",
        "SEVERE",
        "ALERT",
        "EMERG",
        "V",
        "D",
        "I",
        "W",
        "E",
        "F",
    ]
)
_MONTHS = frozenset(
    ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
)
_VALUE = re.compile(r"[\w.:,/+-]+")
_HEADER_CLASSES = frozenset({"value", "level", "month", "dash", "bracket", "caps"})
_COLUMNS = 16  # a header is never longer than this many blank-separated columns
_AGREE = 0.9  # share of the sample's lines a column's class must hold
_MIN_SAMPLE = 20  # fewer lines than this: only the leading header-class columns are learned


def _column_class(token: str) -> str:
    """What a header column holds: a value (times, ids, hosts: digits make a quarter of
    its letters and digits), a level, a month, a ``-``, a ``[...]`` group, an upper-case
    word (a type or a facility), a name ending in ``:`` (a component), a quote (where a
    message starts), or a word."""
    if token == "-":
        return "dash"
    if token.startswith("[") and token.endswith("]"):
        return "bracket"
    if token[0] in "\"'`":
        return "quote"
    if token.strip("[]:,").upper() in _LEVELS:
        return "level"
    if token in _MONTHS:
        return "month"
    alnum = sum(c.isalnum() for c in token)
    digits = sum(c.isdigit() for c in token)
    if digits and 4 * digits >= alnum and _VALUE.fullmatch(token):
        return "value"
    if len(token) > 1 and token.endswith(":"):
        return "colon"
    if len(token) > 1 and token.isupper() and _VALUE.fullmatch(token):
        return "caps"
    return "word"


class _Columns:
    """The sample's first columns: each line's tokens and their classes."""

    def __init__(self, lines: Sequence[str]) -> None:
        self.tokens = [_TOKEN.findall(line)[: _COLUMNS + 1] for line in lines]
        self.classes = [[_column_class(t) for t in toks] for toks in self.tokens]
        self.n = len(lines)

    def _column(self, i: int) -> list[str] | None:
        column = [c[i] for c in self.classes if len(c) > i + 1]  # a message must follow
        return column if len(column) >= _AGREE * self.n else None

    def kind(self, i: int) -> str | None:
        """The one class ``_AGREE`` of the lines have in column ``i``; ``"mixed"`` when
        that many have header classes but not one; else ``None``."""
        column = self._column(i)
        if column is None:
            return None
        top = max(set(column), key=column.count)
        if column.count(top) >= _AGREE * self.n:
            return top
        header = sum(1 for c in column if c in _HEADER_CLASSES)
        return "mixed" if header >= _AGREE * self.n else None

    def varies(self, i: int) -> bool:
        """Whether column ``i`` holds more than one value in the sample."""
        return len({t[i] for t in self.tokens if len(t) > i}) > 1

    def first_quote(self) -> int:
        """The first column where some line has a quote (no header runs past it)."""
        return min((c.index("quote") for c in self.classes if "quote" in c), default=_COLUMNS)


def learn_format(lines: Sequence[str]) -> str | None:
    """A log format for the header the sample's lines share, or ``None``.

    Leading columns that hold header classes (values, levels, months, ``-``, ``[...]``,
    upper-case words) in nearly every line are header. Then, within the next three
    columns, a component ending in ``:`` or followed by ``-`` (``sshd[24]:``,
    ``chrome.exe -``) ends it; or, within the next four, a value column (a time, a count)
    that varies takes the words before it into the header (host, facility, state), and
    the search goes on after it. Nothing here knows any one product's logs.
    """
    if not lines:
        return None
    cols = _Columns(lines)
    limit = min(_COLUMNS, cols.first_quote())
    kinds: list[str] = []
    while True:
        while len(kinds) < limit and (kind := cols.kind(len(kinds))) in (*_HEADER_CLASSES, "mixed"):
            kinds.append(kind or "mixed")
        end = _component_end(cols, len(kinds), limit)
        if end is not None:
            # One field from here to the ``:`` or ``-``: the lines that name their
            # component in more or fewer words than the sample's still fit.
            dash = end == -1 or cols.kind(end) == "dash"
            kinds.extend(["program", "dash"] if dash else ["source"])
            break
        if cols.n < _MIN_SAMPLE:
            break
        values = [j for j in range(len(kinds) + 1, min(len(kinds) + 5, limit))
                  if cols.kind(j) == "value"]  # fmt: skip
        if not values or not any(cols.varies(j) for j in values):
            break
        kinds.extend(["word"] * (values[-1] - len(kinds)) + ["value"])
    return _format_of(kinds) if kinds else None


def _component_end(cols: _Columns, start: int, limit: int) -> int | None:
    """The column of the component's ``:`` or of the ``-`` after it, when one column holds
    it; ``-1`` when each line has its ``-`` within the three columns but not all in one (a
    program name of one to three words: ``chrome.exe -``, ``chrome.exe *64 -``)."""
    for j in range(start, min(start + 3, limit)):
        kind = cols.kind(j)
        if kind == "colon" or (kind == "dash" and j > start):
            return j
    if start + 1 >= limit:
        return None
    dashed = sum(
        1 for c in cols.classes if "dash" in c[start + 1 : start + 4][: len(c) - start - 2]
    )
    return -1 if dashed >= _AGREE * cols.n else None


def _format_of(kinds: list[str]) -> str:
    parts: list[str] = []
    counts: dict[str, int] = {}

    def field(name: str) -> str:
        counts[name] = counts.get(name, 0) + 1
        return f"<{name}{counts[name] if counts[name] > 1 else ''}>"

    for kind in kinds:
        if kind == "dash":
            parts.append("-")
        elif kind == "bracket":
            parts.append(rf"\[{field('Bracket')}\]")
        elif kind == "level":
            parts.append(field("Level"))
        elif kind == "month":
            parts.append(field("Month"))
        elif kind == "source":
            parts.append(field("Source") + ":")
        elif kind == "program":
            parts.append(field("Program"))
        else:
            parts.append(field("Field"))
    return " ".join([*parts, "<Content>"])


class HeaderCutter:
    """Cuts the headers of one stream's raw lines, batch after batch (the pipeline keeps one
    per stream): the format is detected as ``logmarket templates`` detects it, on the
    stream's first ``sample`` lines, and kept once that many were seen; it is detected again
    while the sample is still filling, and when a batch mostly does not fit it (the stream
    changed its shape). Pure: no I/O.
    """

    __slots__ = ("_parser", "_sample", "log_format", "sample_size")

    def __init__(self, sample_size: int = 200) -> None:
        self.sample_size = sample_size
        self._sample: list[str] = []
        self.log_format = "<Content>"
        self._parser: HeaderParser | None = None

    def contents(self, lines: Sequence[str]) -> list[str]:
        """The message of each line (a line that does not fit the header stays whole)."""
        if len(self._sample) < self.sample_size:
            self._sample.extend(lines[: self.sample_size - len(self._sample)])
            self._use(detect_format(self._sample))
            out = self._cut(lines)
        else:
            out = self._cut(lines)
            if self._parser is not None and sum(o is not None for o in out) * 2 <= len(lines):
                self._sample = list(lines[: self.sample_size])
                self._use(detect_format(self._sample))
                out = self._cut(lines)
        return [o if o is not None else line for o, line in zip(out, lines, strict=True)]

    def _use(self, log_format: str) -> None:
        if log_format != self.log_format:
            self.log_format = log_format
            plain = log_format.strip() == "<Content>"
            self._parser = None if plain else HeaderParser(log_format, strict=True)

    def _cut(self, lines: Sequence[str]) -> list[str | None]:
        """Each line's message, ``None`` for a line that does not fit (the caller keeps it)."""
        if self._parser is None:
            return list(lines)
        parsed = (self._parser.parse(line) for line in lines)
        return [p.content if p.matched else None for p in parsed]

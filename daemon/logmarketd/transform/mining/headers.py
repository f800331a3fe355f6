"""Header parsing: cut a raw log line into header fields and the message (``Content``).

A *log format* is written in the Loghub style, ``'<Date> <Time> <Level> <Component>:
<Content>'``: each ``<Name>`` is a field, the text between fields is a regular-expression
fragment (``\\[`` is a literal bracket, ``(...)?`` an optional part) and any run of spaces
matches any run of whitespace. The last field takes the rest of the line.

Without a format, :func:`detect_format` picks one of the common shapes (ISO timestamps,
syslog, Apache/nginx access and error logs, Python logging's default, JSON lines) from a
sample of lines; a line that does not fit its format is kept whole as its own message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from logmarketd.errors import LogmarketdError

__all__ = [
    "KNOWN_FORMATS",
    "HeaderParser",
    "LogFormatError",
    "ParsedLine",
    "detect_format",
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
    "apache-access": r'<Host> <Ident> <User> \[<Timestamp>\] "<Request>" <Status> <Size>( "<Referer>" "<Agent>")?<Content>',
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
                rx = _FIELD_RX.get(part, r"\S+") if strict else ".*?"
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
    """The known format that fits most of ``sample`` (at least half of it), else ``<Content>``."""
    lines = [line for line in sample if line.strip()]
    if not lines:
        return "<Content>"
    best, best_hits = "<Content>", len(lines) / 2
    for name in candidates or list(KNOWN_FORMATS):
        fmt = KNOWN_FORMATS.get(name, name)
        parser = HeaderParser(fmt, strict=True)
        hits = sum(1 for line in lines if parser.parse(line).matched)
        if hits > best_hits:
            best, best_hits = fmt, hits
    return best

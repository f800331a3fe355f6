"""Where a finding is: what counts as a location a developer can go to."""

from __future__ import annotations

import re

__all__ = ["place", "real_location"]

# What makes a location real: a file position (path:line, "near line N", "missing lines",
# a test id path::name), a route, a URL or an address. Not: "line N" (a line of the log), a
# masked log line (it holds placeholders), a bare word ("api", "process memory").
_PLACEHOLDER = re.compile(r"<(?:n|ip|ts|uuid|hex|\*)>")
_FILE = r"(?:[\w.@~+\-]*/)*(?:[\w\-@+]+\.\w{1,10}|Makefile|Dockerfile|Jenkinsfile)"
_REAL_LOCATION = [
    re.compile(rf"{_FILE}(?::\d+|::\w|,? line \d+|\s+\(?(?:near|missing) lines? \d)"),
    re.compile(r"^(?:GET|POST|PUT|PATCH|DELETE|HEAD|OPTIONS) /"),
    re.compile(r"^[a-zA-Z][\w+.-]*://\S+$"),
    re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|\[?[0-9a-fA-F]*:[0-9a-fA-F:]+\]?)(?::\d+)?$"),
    re.compile(r"^[A-Za-z][\w.-]*:\d{2,5}$"),  # host:port
]


def real_location(location: str | None) -> bool:
    """Whether ``location`` names a place a developer can go to (see ``_REAL_LOCATION``)."""
    if not location or _PLACEHOLDER.search(location):
        return False
    return any(p.search(location) for p in _REAL_LOCATION)


# What may stand as a finding's location besides a real one: one that names a file (with a
# directory or an extension), an absolute path, a dotted code name (a Java class, a module),
# or a package (a hyphenated or versioned name: "left-pad", "requests==2.0", "react@18")
_NAMED = re.compile(
    rf"^(?:{_FILE}|/[\w.@~+\-/]+|[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*){{2,}}"
    r"|@?[A-Za-z][\w.]*(?:-[\w.]+)+(?:(?:==|@)[\w.^~*<>=-]+)?|[A-Za-z][\w.-]*(?:==|@)\d[\w.*]*)$"
)
_EDGES = "'\"`()[]{},;:"


def place(location: str | None) -> str | None:
    """``location`` when it is one a developer can go to or open (a real location, or one
    that names a file, a path, a dotted code name or a package), else None: a word guessed
    from the line ("disk", "WORKER") is no place."""
    if not location or _PLACEHOLDER.search(location):
        return None
    if real_location(location):
        return location
    named = any(_NAMED.match(token.strip(_EDGES)) for token in location.split())
    return location if named else None

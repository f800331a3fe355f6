"""Where a finding is: what counts as a location a developer can go to."""

from __future__ import annotations

import re

__all__ = ["real_location"]

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

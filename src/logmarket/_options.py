"""The handler's settings, checked without ever raising: a wrong value is reported once and
replaced by its default, because a logging handler that breaks its host app at start-up or at
exit is worse than one that logs with a default.

Each problem is reported once per process as a :class:`~logmarket.errors.LogmarketWarning`
(``warnings`` shows it on stderr). An app that turns warnings into errors (``-W error``) gets
the message written to stderr instead of an exception.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable
from typing import Any

from logmarket.errors import LogmarketWarning
from logmarket.protocol import MAX_TEXT, SOURCES

__all__ = [
    "DEFAULT_SOCKET",
    "SOCKET_PATH_MAX",
    "check_key",
    "check_level",
    "check_number",
    "check_socket_path",
    "check_source",
    "check_sub_pkp",
    "check_text",
    "default_socket_path",
    "report",
    "setting",
]

DEFAULT_SOCKET = ".logmarket/logmarketd.sock"
# Linux's sun_path holds 108 bytes including the terminating NUL.
SOCKET_PATH_MAX = 107

_reported: set[str] = set()
_reported_lock = threading.Lock()


def report(message: str) -> None:
    """Warn once per process for each distinct message; never raise."""
    with _reported_lock:
        if message in _reported:
            return
        _reported.add(message)
    try:
        warnings.warn(message, LogmarketWarning, stacklevel=4)
    except Exception:  # the app turned warnings into errors: say it, do not raise
        # No stderr at all (pythonw, closed): nothing is left to tell.
        with contextlib.suppress(Exception):
            sys.stderr.write(f"LogmarketWarning: {message}\n")


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_source(value: Any, origin: str) -> str:
    """A source name; a variant in case or blanks of a real one (``Build``) becomes it."""
    if value in SOURCES:
        return str(value)
    fixed = value.strip().lower() if isinstance(value, str) else None
    fallback = fixed if fixed in SOURCES else "runtime"
    report(
        f"logmarket: {origin}={_show(value)} is not one of {', '.join(SOURCES)}; using {fallback!r}"
    )
    return str(fallback)


def check_text(value: Any, origin: str, *, what: str) -> str | None:
    """A Sub-PKP id or stream name: text of 1 to MAX_TEXT characters, or None (empty is None)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    report(
        f"logmarket: {origin}={_show(value)} is not a {what} (text of at most {MAX_TEXT} "
        "characters); using none"
    )
    return None


def check_key(value: Any, origin: str) -> str | None:
    """A Sub-PKP key as text (the daemon judges it); reported without its value, a secret."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and len(value) <= MAX_TEXT:
        return value
    report(f"logmarket: {origin} is not a Sub-PKP key (text of at most {MAX_TEXT} characters);"
           " sending none, so the records credit no one")  # fmt: skip
    return None


def check_sub_pkp(value: Any, origin: str) -> str | None:
    return check_text(value, origin, what="Sub-PKP id")


def setting(value: Any, name: str, env: str, check: Callable[[Any, str], Any]) -> Any:
    """The argument if given, else the environment variable, each checked (None: unset)."""
    if value is not None and value != "":
        return check(value, name)
    from_env = os.environ.get(env)
    return check(from_env, env) if from_env else None


def check_socket_path(value: Any, origin: str) -> str | None:
    """An absolute path a Unix socket can be reached at, or None (reported) when it is not."""
    try:
        path: str = os.path.abspath(os.fspath(value))
        size = len(os.fsencode(path))
    except (TypeError, ValueError, UnicodeError):
        report(f"logmarket: {origin}={_show(value)} is not a path; using the default")
        return None
    if "\0" in path:
        report(f"logmarket: {origin}={_show(value)} holds a NUL byte; using the default")
        return None
    if size > SOCKET_PATH_MAX:
        report(
            f"logmarket: {origin}={_show(value)} is {size} bytes as an absolute path, over the "
            f"{SOCKET_PATH_MAX} a Unix socket path may have; using the default"
        )
        return None
    return path


def default_socket_path() -> str:
    """``LOGMARKET_SOCKET`` if usable, else ``./.logmarket/logmarketd.sock``, made absolute."""
    env = os.environ.get("LOGMARKET_SOCKET")
    if env:
        path = check_socket_path(env, "LOGMARKET_SOCKET")
        if path is not None:
            return path
    path = os.path.abspath(DEFAULT_SOCKET)
    if len(os.fsencode(path)) > SOCKET_PATH_MAX:
        # No shorter default exists: records queue (bounded) as if the daemon were down.
        report(
            f"logmarket: the default socket path {path!r} is too long for a Unix socket; "
            "set LOGMARKET_SOCKET to a shorter path"
        )
    return path


def check_number(value: Any, origin: str, default: float, minimum: float) -> float:
    """A finite number at least ``minimum`` (a whole one when ``default`` is an int); text is
    parsed, as configuration files give text."""
    integer = isinstance(default, int)
    try:
        if isinstance(value, bool):
            raise TypeError
        number = (int(value) if integer else float(value)) if isinstance(value, str) else value
        if integer and not isinstance(number, int):
            raise TypeError
        if not isinstance(number, int | float) or not math.isfinite(number) or number < minimum:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        kind = "a whole number" if integer else "a number"
        report(
            f"logmarket: {origin}={_show(value)} is not {kind} of at least {minimum:g}; "
            f"using {default:g}"
        )
        return default
    return number


def check_level(value: Any, origin: str, default: int) -> int:
    """A logging level as a number or a name in any case (``info``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        level = logging.getLevelNamesMapping().get(value.strip().upper())
        if level is not None:
            return level
    report(
        f"logmarket: {origin}={_show(value)} is not a logging level; "
        f"using {logging.getLevelName(default)}"
    )
    return default

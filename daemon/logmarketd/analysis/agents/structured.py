"""Structured log lines (JSON per line, logfmt): their level, message and source location, so
that a ``{"level":"error","caller":"db/pool.go:88","msg":"..."}`` line is reported with its
message and caller rather than as raw JSON.
"""

from __future__ import annotations

import json
import re

__all__ = ["structured_error"]

_LEVEL_KEYS = ("level", "severity", "lvl", "levelname", "log.level", "loglevel")
_MSG_KEYS = ("msg", "message", "event", "error", "err")
_LOC_KEYS = ("caller", "source", "logger", "logger_name", "module", "name", "component", "file")
_ERROR_LEVELS = {"error": "ERROR", "err": "ERROR", "fatal": "FATAL", "critical": "CRITICAL", "crit": "CRITICAL",
                 "panic": "PANIC", "emerg": "EMERG", "alert": "ALERT", "severe": "SEVERE", "dpanic": "PANIC"}  # fmt: skip
_LOGFMT = re.compile(r'(\w[\w.]*)=("(?:[^"\\]|\\.)*"|\S+)')


_PY_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')
_AT_FRAME = re.compile(r"at (?:[\w$.<>]+ \()?([^\s()]+\.\w+):(\d+)")
_LIB = (
    "site-packages",
    "dist-packages",
    "/lib/python",
    "<frozen",
    "node_modules",
    "node:",
    "java.base/",
)
_STACK_KEYS = (
    "exception",
    "exc_info",
    "stack",
    "stack_trace",
    "stacktrace",
    "traceback",
    "error.stack_trace",
)


def _frame(stack: str) -> str | None:
    """The innermost application frame of a stack trace kept inside a structured field."""
    py = [m for m in _PY_FRAME.finditer(stack) if not any(x in m.group(1) for x in _LIB)]
    if py:
        return f"{py[-1].group(1)}:{py[-1].group(2)} in {py[-1].group(3)}"
    at = [m for m in _AT_FRAME.finditer(stack) if not any(x in m.group(1) for x in _LIB)]
    return f"{at[0].group(1)}:{at[0].group(2)}" if at else None


def _level(value: object) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "FATAL" if value >= 60 else "ERROR" if value >= 50 else None  # pino/bunyan numbers
    if isinstance(value, str):
        return _ERROR_LEVELS.get(value.strip().lower())
    return None


def _pick(d: dict[str, object], keys: tuple[str, ...]) -> str | None:
    for k in keys:
        v = d.get(k)
        if isinstance(v, str) and v.strip():
            return v.strip()
        if isinstance(v, dict):  # {"log": {"level": ...}} or {"error": {"message": ...}}
            inner = _pick({str(a): b for a, b in v.items()}, ("message", "msg", "type"))
            if inner:
                return inner
    return None


def structured_error(line: str) -> tuple[str, str, str | None, bool] | None:
    """``(LEVEL, message, location, has_stack)`` of an error-level JSON or logfmt line, else None."""
    s = line.strip()
    fields: dict[str, object]
    if s.startswith("{") and s.endswith("}"):
        try:
            obj = json.loads(s)
        except ValueError:
            return None
        if not isinstance(obj, dict):
            return None
        fields = {str(k).lower(): v for k, v in obj.items()}
    elif "level=" in s or "lvl=" in s or "severity=" in s:
        fields = {k.lower(): v.strip('"') for k, v in _LOGFMT.findall(s)}
    else:
        return None
    level = next((lv for k in _LEVEL_KEYS if (lv := _level(fields.get(k))) is not None), None)
    if level is None:
        return None
    msg = _pick(fields, _MSG_KEYS) or ""
    err = fields.get("error") or fields.get("err")
    if isinstance(err, str) and err and err not in msg:
        msg = f"{msg}: {err}" if msg else err
    stack = next(
        (v for k in _STACK_KEYS if isinstance(v := fields.get(k), str) and "\n" in v), None
    )
    loc = (_frame(stack) if stack else None) or _pick(fields, _LOC_KEYS)
    if stack and (last := stack.strip().splitlines()[-1].strip()) and last not in msg:
        msg = f"{msg}: {last}" if msg else last  # the exception line of the trace
    if loc is None and isinstance(fields.get("file"), str) and fields.get("line") is not None:
        loc = f"{fields['file']}:{fields['line']}"
    return level, msg, loc, stack is not None

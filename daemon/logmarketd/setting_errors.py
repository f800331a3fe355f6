"""Settings problems in the daemon's own words: one line each, naming the setting as it was
given (a flag, an environment variable, or a file and line), the value, and what is allowed.
No validation library's text reaches the user."""

from __future__ import annotations

import difflib
import json
import os
import re
import types
import typing
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, SecretStr
from pydantic.fields import FieldInfo

__all__ = ["allowed", "describe", "env_names", "explain_order", "given_as"]

# What a setting takes when its type alone does not say it well.
_ALLOWED = {
    "http": "must be HOST:PORT (e.g. 127.0.0.1:8765), or empty for no HTTP",
    "socket_mode": "must be an octal file mode such as 0660",
    "settle_after": "must be seconds, or a duration like 90s, 30m, 24h or 2d",
    "daily_payout_cap": "must be an amount in USD of at least 0, or none for no cap",
    "daily_market_budget": "must be an amount in USD of at least 0, or none for no budget",
    "peer_uid_credit": "each item must be UID=SUB_PKP_ID (UID a number)",
}
_HIDDEN = {"admin_token", "watch_key", "webhook_secret"}


def _aliases(name: str, field: FieldInfo) -> list[str]:
    alias = field.validation_alias
    names = [name]
    if isinstance(alias, AliasChoices):
        names += [c for c in alias.choices if isinstance(c, str)]
    return names


def env_names(name: str, field: FieldInfo) -> list[str]:
    """The environment variable(s) a setting is read from."""
    alias = field.validation_alias
    if isinstance(alias, AliasChoices):
        return [str(c) for c in alias.choices if isinstance(c, str) and c.isupper()]
    return [f"LOGMARKET_{name.upper()}"]


def _file_line(config_file: Path | None, keys: Sequence[str]) -> int | None:
    if config_file is None:
        return None
    try:
        lines = config_file.read_text("utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    names = "|".join(map(re.escape, keys))
    pattern = re.compile(r"""^\s*["']?(""" + names + r""")["']?\s*=""")
    return next((n for n, line in enumerate(lines, 1) if pattern.match(line)), None)


def _show(name: str, value: Any, style: str) -> str:
    if name in _HIDDEN or isinstance(value, SecretStr):
        text = "(hidden)"
    elif style == "file":
        text = json.dumps(value, default=str) if not isinstance(value, Decimal) else str(value)
    elif isinstance(value, list):
        text = ",".join(map(str, value))
    else:
        text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def given_as(
    model: type[BaseModel], name: str, value: Any, flags: Mapping[str, Any],
    config_file: Path | None,
) -> tuple[str, str]:  # fmt: skip
    """``(where, what)``: the prefix naming where the setting came from (``FILE:LINE: `` or
    empty) and the setting as written there with its value (``--flag V``, ``ENV=V``,
    ``name = V``, with ``(environment variable)`` or ``(default)``)."""
    field = model.model_fields[name]
    if name in flags:
        return "", f"--{name.replace('_', '-')} {_show(name, flags[name], 'flag')}"
    environ = {k.upper(): v for k, v in os.environ.items()}
    for env in env_names(name, field):
        if env in environ:
            return "", f"{env}={_show(name, environ[env], 'env')} (environment variable)"
    line = _file_line(config_file, _aliases(name, field))
    if line is not None:
        return f"{config_file}:{line}: ", f"{name} = {_show(name, value, 'file')}"
    return "", f"{env_names(name, field)[0]}={_show(name, value, 'env')} (default)"


def _bounds(field: FieldInfo) -> str:
    limits: dict[str, Any] = {}
    for item in field.metadata:
        for key in ("ge", "gt", "le", "lt"):
            if getattr(item, key, None) is not None:
                limits[key] = getattr(item, key)

    def num(x: Any) -> str:
        return f"{x:g}" if isinstance(x, float | Decimal) else str(x)

    if "ge" in limits and "le" in limits:
        return f" from {num(limits['ge'])} to {num(limits['le'])}"
    if "gt" in limits:
        return f" above {num(limits['gt'])}"
    if "ge" in limits:
        return f" of at least {num(limits['ge'])}"
    return ""


def allowed(name: str, field: FieldInfo) -> str:
    """What the setting takes, as a ``must be ...`` clause."""
    if name in _ALLOWED:
        return _ALLOWED[name]
    ann = field.annotation
    args = [a for a in typing.get_args(ann) if a is not type(None)]
    if typing.get_origin(ann) in (typing.Union, types.UnionType) and len(args) == 1:
        ann = args[0]
    origin = typing.get_origin(ann)
    if origin is typing.Literal:
        return "must be one of " + ", ".join(map(str, typing.get_args(ann)))
    if origin is list:
        return "must be a list: a JSON list, or the items separated by commas"
    kinds = {bool: "true or false", int: "a whole number", float: "a number",
             Decimal: "a decimal number", Path: "a path", str: "text", SecretStr: "text"}  # fmt: skip
    return f"must be {kinds.get(ann, 'a valid value')}{_bounds(field)}"  # type: ignore[arg-type]


def _field_of(model: type[BaseModel], key: str) -> str | None:
    for name, field in model.model_fields.items():
        if key.lower() in (a.lower() for a in _aliases(name, field)):
            return name
    return None


def _unknown(model: type[BaseModel], key: str, config_file: Path | None) -> str:
    line = _file_line(config_file, [key])
    where = f"{config_file}:{line}: " if line is not None else ""
    close = difflib.get_close_matches(key.lower(), list(model.model_fields), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else " (logmarketd --help lists them)"
    return f"{where}unknown setting {key}{hint}"


def describe(
    model: type[BaseModel], errors: Sequence[Mapping[str, Any]], flags: Mapping[str, Any],
    config_file: Path | None,
) -> str:  # fmt: skip
    """One line per setting that was refused."""
    lines: list[str] = []
    done: set[str] = set()
    for err in errors:
        key = str(err["loc"][0]) if err["loc"] else ""
        if err["type"] == "extra_forbidden":
            lines.append(_unknown(model, key, config_file))
            continue
        name = _field_of(model, key)
        if name is None or name in done:
            continue
        done.add(name)
        field = model.model_fields[name]
        where, what = given_as(model, name, err.get("input"), flags, config_file)
        why = allowed(name, field)
        msg = str(err.get("msg", ""))
        if err["type"] == "value_error" and name not in _ALLOWED:
            why = msg.removeprefix("Value error, ")
        lines.append(f"{where}invalid setting {what}: {why}")
    return "\n".join(lines) or "invalid settings"


def explain_order(
    model: type[BaseModel], settings: Any, flags: Mapping[str, Any], config_file: Path | None
) -> str | None:
    """Settings that are each fine but contradict each other, or None."""
    lo, hi = settings.log_marketplace_min_payment, settings.log_marketplace_max_payment
    if lo > hi:
        w1, low = given_as(model, "log_marketplace_min_payment", lo, flags, config_file)
        w2, high = given_as(model, "log_marketplace_max_payment", hi, flags, config_file)
        where = w1 or w2
        return (
            f"{where}contradictory settings: {low} is above {high}; the smallest payment must "
            "not be larger than the largest"
        )
    return None

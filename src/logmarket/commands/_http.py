"""A small stdlib HTTP client for the commands that talk to the daemon's API.

Every failure becomes one :class:`~logmarket.errors.CommandError` line that names what was
tried (the URL, the token's origin) and what to do about it.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from logmarket.errors import CommandError, UsageError

__all__ = ["API", "add_api_args", "call", "request", "token_from"]

API = "/npe/log-marketplace"
_DEFAULT_URL = "http://127.0.0.1:8765"
_START = "start it with `make run` in the repository (or `logmarketd`)"


def add_api_args(p: Any) -> None:
    p.add_argument("--url", default=None,
                   help=f"daemon HTTP address [env: LOGMARKET_URL; default: {_DEFAULT_URL}]")  # fmt: skip
    p.add_argument("--token", default=None,
                   help="admin token or Sub-PKP key [env: LOGMARKET_TOKEN; default: the admin "
                        "token in --state-dir]")  # fmt: skip
    p.add_argument("--state-dir", default=os.environ.get("LOGMARKET_STATE_DIR", ".logmarket"),
                   help="where the daemon keeps admin.token [env: LOGMARKET_STATE_DIR]")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print the API's JSON answer")


def _url(args: Any) -> tuple[str, str]:
    """The base URL and where it came from."""
    if args.url:
        return str(args.url), "--url"
    env = os.environ.get("LOGMARKET_URL")
    if env:
        return env, "LOGMARKET_URL"
    return _DEFAULT_URL, "the default"


def token_from(args: Any) -> tuple[str, str]:
    """The token and where it came from (a flag, a variable or the admin token file)."""
    if args.token:
        return str(args.token), "--token"
    for name in ("LOGMARKET_TOKEN", "LOGMARKET_ADMIN_TOKEN"):
        if os.environ.get(name):
            return os.environ[name], name
    path = Path(args.state_dir) / "admin.token"
    try:
        return path.read_text().strip(), str(path)
    except OSError as exc:
        raise UsageError(
            f"no token: {path} is not readable ({exc.strerror or exc}); pass --token, set "
            f"LOGMARKET_TOKEN, or give --state-dir of a daemon that has run (`make run` "
            "writes .logmarket/admin.token)"
        ) from None


def call(
    args: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    """The daemon's JSON answer to one request (``None`` for an empty one)."""
    return request(args, method, path, body, headers)[0]


def request(
    args: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[Any, Message]:
    """The daemon's JSON answer and its response headers (``Idempotent-Replayed`` and the
    like); a refusal or no answer is a :class:`CommandError`."""
    base, url_origin = _url(args)
    token, token_origin = token_from(args)
    data = None if body is None else json.dumps(body).encode()
    try:
        req = urllib.request.Request(base.rstrip("/") + path, data=data, method=method)
    except ValueError as exc:  # not a URL at all
        raise UsageError(f"{base!r} (from {url_origin}) is not an HTTP URL: {exc}") from None
    req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"null"), resp.headers
    except urllib.error.HTTPError as exc:
        raise _refused(exc, base, token_origin, args.state_dir) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        if isinstance(reason, socket.timeout | TimeoutError):
            reason = "no answer within 120 s"
        where = "" if url_origin == "the default" else f" (from {url_origin})"
        raise CommandError(
            f"cannot reach the daemon at {base}{where}: {_why(reason)}; {_START}, "
            "or point --url / LOGMARKET_URL at a running one"
        ) from None


def _why(reason: Any) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return str(reason.strerror).lower()
    return str(reason)


def _refused(exc: urllib.error.HTTPError, base: str, origin: str, state_dir: str) -> CommandError:
    raw = exc.read()
    try:
        parsed: Any = json.loads(raw)
    except ValueError:
        parsed = raw.decode("utf-8", "replace").strip()
    detail = parsed.get("detail", parsed) if isinstance(parsed, dict) else parsed
    head = f"the daemon at {base} answered HTTP {exc.code}: {detail}"
    admin = Path(state_dir) / "admin.token"
    if exc.code == 401:
        return CommandError(
            f"{head}; the token from {origin} is not one it knows: pass the admin token "
            f"({admin} of the running daemon) or a Sub-PKP key with --token or LOGMARKET_TOKEN"
        )
    if exc.code == 403:
        return CommandError(f"{head}; this needs the admin token ({admin}), via --token")
    if exc.code == 429 and exc.headers.get("Retry-After"):
        return CommandError(f"{head}; try again in {exc.headers['Retry-After']} s")
    return CommandError(head)

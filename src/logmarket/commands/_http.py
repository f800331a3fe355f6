"""A small stdlib HTTP client for the commands that talk to the daemon's API."""

from __future__ import annotations

import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["ApiError", "add_api_args", "call", "token_from"]

API = "/npe/log-marketplace"


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        detail = body.get("detail", body) if isinstance(body, dict) else body
        super().__init__(f"HTTP {status}: {detail}")
        self.status = status
        self.body = body


def add_api_args(p: Any) -> None:
    p.add_argument("--url", default=os.environ.get("LOGMARKET_URL", "http://127.0.0.1:8765"),
                   help="daemon HTTP address [env: LOGMARKET_URL]")  # fmt: skip
    p.add_argument("--token", default=None,
                   help="admin token or Sub-PKP key [env: LOGMARKET_TOKEN; default: the admin "
                        "token in --state-dir]")  # fmt: skip
    p.add_argument("--state-dir", default=os.environ.get("LOGMARKET_STATE_DIR", ".logmarket"),
                   help="where the daemon keeps admin.token [env: LOGMARKET_STATE_DIR]")  # fmt: skip


def token_from(args: Any) -> str:
    token = (
        args.token or os.environ.get("LOGMARKET_TOKEN") or os.environ.get("LOGMARKET_ADMIN_TOKEN")
    )
    if token:
        return str(token)
    path = Path(args.state_dir) / "admin.token"
    try:
        return path.read_text().strip()
    except OSError:
        print(f"logmarket: no token: pass --token, set LOGMARKET_TOKEN, or run where {path} "
              "is readable", file=sys.stderr)  # fmt: skip
        raise SystemExit(2) from None


def call(
    args: Any, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method)
    req.add_header("Authorization", f"Bearer {token_from(args)}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        raw = exc.read()
        try:
            parsed: Any = json.loads(raw)
        except ValueError:
            parsed = raw.decode("utf-8", "replace")
        raise ApiError(exc.code, parsed) from None

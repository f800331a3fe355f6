"""Who is calling: the admin token, per-Sub-PKP API keys, and a per-key request rate limit.

* The admin token comes from ``LOGMARKET_ADMIN_TOKEN`` or, when unset, is generated at the
  first start into ``STATE_DIR/admin.token`` (mode 0600) and shown once in the banner.
* A Sub-PKP key (``logmarket keys create ID``) looks like ``lmk_<keyid>_<secret>``; only a
  SHA-256 of the secret is stored (the secret has 256 bits of entropy, so a slow hash adds
  nothing), and comparisons are constant-time.
* A Sub-PKP key acts only for its own Sub-PKP; the admin token acts for any and alone may pay
  and read the dashboard. Every key gets ``requests_per_minute`` (a sliding window).
"""

from __future__ import annotations

import collections
import hashlib
import hmac
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from logmarketd.errors import LogmarketdError
from logmarketd.store.db import Store

__all__ = [
    "AuthError",
    "Principal",
    "RateLimiter",
    "create_key",
    "ensure_admin_token",
    "hash_secret",
    "load_key",
    "parse_key",
]


class AuthError(LogmarketdError, PermissionError):
    """Missing, unknown or insufficient credentials; ``status`` is 401 or 403."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: the admin, or one Sub-PKP."""

    key_id: str
    sub_pkp_id: str | None  # None: the admin

    @property
    def is_admin(self) -> bool:
        return self.sub_pkp_id is None

    def may_act_for(self, sub_pkp_id: str | None) -> bool:
        return self.is_admin or (sub_pkp_id is not None and sub_pkp_id == self.sub_pkp_id)


def ensure_admin_token(state_dir: Path, configured: str | None) -> tuple[str, bool]:
    """The admin token and whether it was generated just now (to show it once)."""
    if configured:
        return configured, False
    path = state_dir / "admin.token"
    try:
        return path.read_text("ascii").strip(), False
    except FileNotFoundError:
        pass
    token = "lma_" + secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    return token, True


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(key: str) -> tuple[str, str] | None:
    """``lmk_<keyid>_<secret>`` → (keyid, secret), or None if it is not shaped like one."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "lmk" or not parts[1] or not parts[2]:
        return None
    return parts[1], parts[2]


def create_key(db_path: Path, sub_pkp_id: str) -> str:
    """Create an API key for a Sub-PKP directly in the store; returns the key (shown once)."""
    if not sub_pkp_id or len(sub_pkp_id) > 256:
        raise ValueError("a Sub-PKP id is 1 to 256 characters")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    conn = sqlite3.connect(db_path, timeout=10)
    try:
        with conn:
            conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, NULL)",
                (key_id, sub_pkp_id, hash_secret(secret), time.time()),
            )
    finally:
        conn.close()
    return f"lmk_{key_id}_{secret}"


async def load_key(store: Store, key_id: str) -> tuple[str, str] | None:
    """(Sub-PKP id, secret hash) of a live (not revoked) key, or None."""
    row = await store.fetchone(
        "SELECT sub_pkp_id, secret_hash FROM api_keys WHERE key_id = ? AND revoked IS NULL",
        (key_id,),
    )
    return None if row is None else (row[0], row[1])


def check_admin(token: str, admin_token: str) -> bool:
    return hmac.compare_digest(token.encode(), admin_token.encode())


def check_key_hash(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


class RateLimiter:
    """A sliding one-minute window per key: at most ``limit`` requests in any 60 seconds."""

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._hits: dict[str, collections.deque[float]] = {}

    def check(self, key: str, now: float | None = None) -> float:
        """0 if the request may go ahead (and counts it), else the seconds to wait."""
        now = time.monotonic() if now is None else now
        hits = self._hits.setdefault(key, collections.deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(0.001, hits[0] + self.window - now)
        hits.append(now)
        if len(self._hits) > 100_000:  # forget idle keys rather than grow without bound
            for k in [k for k, v in self._hits.items() if not v][:50_000]:
                del self._hits[k]
        return 0.0

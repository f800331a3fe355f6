"""Who is calling: the admin token, per-Sub-PKP API keys, and a per-key request rate limit.

* The admin token comes from ``LOGMARKET_ADMIN_TOKEN`` or, when unset, is generated at the
  first start into ``STATE_DIR/admin.token`` (mode 0600) and shown once in the banner.
* A Sub-PKP key (``logmarket keys create ID``) looks like ``lmk_<keyid>_<secret>``; how keys
  are stored, checked and revoked is :mod:`logmarketd.store.keys`.
* A Sub-PKP key acts only for its own Sub-PKP; the admin token acts for any and alone may pay
  and read the dashboard. Every key gets ``requests_per_minute`` (a sliding window).
"""

from __future__ import annotations

import collections
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from logmarketd.errors import LogmarketdError

__all__ = ["AuthError", "Principal", "RateLimiter", "check_admin", "ensure_admin_token"]


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


def check_admin(token: str, admin_token: str) -> bool:
    return hmac.compare_digest(token.encode(), admin_token.encode())


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

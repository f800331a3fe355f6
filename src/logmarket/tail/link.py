"""The tailer's connection to the daemon: (re)connecting with backoff, taking acks, and
telling once - not once per retry - when the daemon cannot be reached and when it is back.

The hello carries the client id and its secret from the checkpoint: the daemon registers
the pair on first sight and refuses a hello that has the id without the secret, so another
local process that learns the id cannot take over this tailer's sequence numbers.
"""

from __future__ import annotations

import contextlib
import os
import resource
import socket
from collections import Counter
from collections.abc import Callable
from typing import Any

from logmarket.shipper import Backoff, Shipper
from logmarket.tail.checkpoint import Checkpoint

__all__ = ["Link", "Status", "hello_for", "raise_nofile"]

# ``(event, detail)``: ``"unreachable"`` with why, then ``"reconnected"`` once it is back.
Status = Callable[[str, str], None]


def hello_for(
    ckpt: Checkpoint, host: str | None, extra: dict[str, object], key: str | None = None
) -> dict[str, Any]:
    """The tailer's hello; ``key``, a Sub-PKP key, decides whom its lines credit."""
    return {
        "clientId": ckpt.client_id,
        "clientSecret": ckpt.client_secret,
        "key": key,
        "host": host or socket.gethostname(),
        "pid": os.getpid(),
        "source": "runtime",
        **extra,
    }


class Link:
    """Connects ``shipper`` when it is time to; reports reachability through ``status``."""

    def __init__(self, shipper: Shipper, stats: Counter[str], status: Status | None) -> None:
        self.shipper = shipper
        self.stats = stats
        self.status = status
        self.next_connect = 0.0
        self._backoff = Backoff()
        self._unreachable = False

    def connect(self, now: float) -> bool:
        """Whether connected, trying (again) if the backoff allows it now."""
        if self.shipper.connected:
            return True
        if now < self.next_connect:
            return False
        try:
            self.shipper.connect()
        except (OSError, ValueError) as exc:
            self.shipper.disconnect()
            self.stats["connect_failures"] += 1
            self.next_connect = now + self._backoff.next_delay()
            if not self._unreachable:
                self._unreachable = True
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                self._tell("unreachable", why or type(exc).__name__)
            return False
        self._backoff.reset()
        self.stats["connects"] += 1
        if self._unreachable:
            self._unreachable = False
            self._tell("reconnected", "")
        return True

    def poll(self, timeout: float) -> None:
        """Take the acks that came (waiting up to ``timeout`` for the first)."""
        try:
            while self.shipper.poll_acks(timeout) and self.shipper.in_flight:
                timeout = 0.0
        except (OSError, ValueError):
            self.shipper.disconnect()
            self.stats["disconnects"] += 1

    def _tell(self, event: str, detail: str) -> None:
        if self.status is not None:
            with contextlib.suppress(Exception):  # a reporter's failure must not stop tailing
                self.status(event, detail)


def raise_nofile() -> None:
    """One descriptor per tailed file: lift the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and (hard == resource.RLIM_INFINITY or soft < hard):
        new = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))

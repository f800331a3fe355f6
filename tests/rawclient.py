"""A hand-driven protocol client for tests that speak the wire protocol frame by frame."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest


def secret_for(client_id: str) -> str:
    """The secret a test client proves its id with (long enough for the daemon's minimum)."""
    return f"secret-of-{client_id}".ljust(24, "_")


class Raw:
    """One connection; frames in and out as dicts."""

    def __init__(self, path: Path, timeout: float = 10) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""

    def send(self, obj: Any) -> None:
        data = obj if isinstance(obj, bytes) else (json.dumps(obj) + "\n").encode()
        self.sock.sendall(data)

    def read(self) -> dict[str, Any]:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            assert chunk, "daemon closed the connection"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        result: dict[str, Any] = json.loads(line)
        return result

    def closed_by_peer(self) -> bool:
        """True once the daemon has closed this connection (after any pending frames)."""
        try:
            return self.sock.recv(65536) == b""
        except OSError:
            return True

    def hello(self, client_id: str, **extra: Any) -> dict[str, Any]:
        extra.setdefault("clientSecret", secret_for(client_id))
        self.send({"type": "hello", "version": 1, "clientId": client_id, **extra})
        return self.read()

    def batch(self, seq: int, *messages: str) -> dict[str, Any]:
        self.send({"type": "batch", "seq": seq, "records": [{"message": m} for m in messages]})
        return self.read()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def raw() -> Iterator[Callable[..., Raw]]:
    """Open raw clients; all closed at the end of the test."""
    opened: list[Raw] = []

    def connect(path: Path, timeout: float = 10) -> Raw:
        client = Raw(path, timeout)
        opened.append(client)
        return client

    yield connect
    for client in opened:
        client.close()

"""Malformed HTTP input is a 4xx with the API's JSON error shape, never a 500 or a cut stream.

Every case here is a request a client (or an attacker) can send to the real daemon: bodies
nested deeper than the parser's recursion limit, query parameters that are not the integer
they name, event ids beyond SQLite's 64-bit range, header bytes that are not UTF-8.
"""

from __future__ import annotations

import json
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, http

API = "/npe/log-marketplace"


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    root = Path(tempfile.mkdtemp(prefix="lmh", dir="/tmp"))
    d = DaemonProcess(root, "--requests-per-minute", "100000", marketplace=True).start()
    try:
        yield d
    finally:
        d.stop()


def assert_error(status: int, body: Any, expected: int) -> None:
    """The project's error shape: ``{"error": <slug>, "detail": <text>}`` with a 4xx status."""
    assert status == expected, (status, body)
    assert isinstance(body, dict) and set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and isinstance(body["detail"], str), body


def raw_request(d: DaemonProcess, head: bytes) -> tuple[int, bytes, bytes]:
    """Send ``head`` (request line and headers, no body) as is; (status, headers, body).

    A raw socket, because urllib refuses to send the non-ASCII header bytes under test.
    """
    with socket.create_connection(("127.0.0.1", d.port), timeout=20) as sock:
        sock.sendall(head + b"Host: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        chunks: list[bytes] = []
        for _ in range(10_000):  # bounded: a cut or endless stream fails below, not here
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
            if len(b"".join(chunks)) > 1 << 20:
                break
    data = b"".join(chunks)
    headers, _, body = data.partition(b"\r\n\r\n")
    status = int(headers.split(b" ", 2)[1])
    return status, headers, body


def raw_json(d: DaemonProcess, head: bytes) -> tuple[int, Any]:
    status, headers, body = raw_request(d, head)
    assert b"application/json" in headers, headers
    return status, json.loads(body)


@pytest.mark.parametrize("path", ["/analyze", "/batch-analyze", "/simulate"])
@pytest.mark.parametrize("depth", [100_000, 2_000, 200])
def test_a_deeply_nested_body_is_a_400(market: DaemonProcess, path: str, depth: int) -> None:
    """Nesting past the parser's recursion limit (and well short of it) is refused, not a 500."""
    body = b"[" * depth + b"]" * depth
    status, err = http("POST", market.url + API + path, body, token=market.admin_token)
    assert_error(status, err, 400)
    assert "nested" in err["detail"]


@pytest.mark.parametrize("path", ["/analyze", "/batch-analyze", "/simulate"])
def test_deep_nesting_inside_a_field_is_a_400(market: DaemonProcess, path: str) -> None:
    inner = b"{" + b'"a":{' * 5_000 + b"}" * 5_000 + b"}"
    body = b'{"source":"build","logContent":' + inner + b',"logs":' + inner + b"}"
    status, err = http("POST", market.url + API + path, body, token=market.admin_token)
    assert_error(status, err, 400)


@pytest.mark.parametrize(
    "limit",
    [
        "abc",
        "1e3",
        "9" * 5_000,
        "",
        "%00",
        "-5",
        "0",
        "101",
        "1_0",
        "%D9%A1",
        "%2B5",
        "%205",
        "5.0",
    ],
)
def test_top_earners_limit_must_be_an_integer_from_1_to_100(
    market: DaemonProcess, limit: str
) -> None:
    status, err = http(
        "GET", market.url + API + "/top-earners?limit=" + limit, token=market.admin_token
    )
    assert_error(status, err, 400)
    assert "limit" in err["detail"]


@pytest.mark.parametrize("limit", ["1", "100", "010"])
def test_top_earners_accepts_limits_in_range(market: DaemonProcess, limit: str) -> None:
    status, body = http(
        "GET", market.url + API + "/top-earners?limit=" + limit, token=market.admin_token
    )
    assert status == 200 and isinstance(body["topEarners"], list), body


@pytest.mark.parametrize(
    "since", ["-99999999999999999999", "99999999999999999999", str(2**63), "-1", "abc", "1e3"]
)
def test_events_since_outside_the_id_range_is_a_400(market: DaemonProcess, since: str) -> None:
    """Today some of these answer 200 and then the stream dies on SQLite's OverflowError."""
    token = market.admin_token.encode()
    status, err = raw_json(
        market, b"GET /events?since=" + since.encode() + b" HTTP/1.1\r\nAuthorization: Bearer "
        + token + b"\r\n"
    )  # fmt: skip
    assert_error(status, err, 400)
    assert "since" in err["detail"]


@pytest.mark.parametrize("value", ["9" * 30, str(2**63), "1" + "0" * 5_000, "-1", "x"])
def test_events_last_event_id_outside_the_id_range_is_a_400(
    market: DaemonProcess, value: str
) -> None:
    token = market.admin_token.encode()
    status, err = raw_json(
        market, b"GET /events HTTP/1.1\r\nAuthorization: Bearer " + token
        + b"\r\nLast-Event-ID: " + value.encode() + b"\r\n"
    )  # fmt: skip
    assert_error(status, err, 400)
    assert "Last-Event-ID" in err["detail"]


@pytest.mark.parametrize("token", [b"\xff\xfe", b"lmk_\xff_\xfe", b"lmk_a_\xc3"])
def test_a_token_that_is_not_ascii_is_a_401(market: DaemonProcess, token: bytes) -> None:
    status, err = raw_json(
        market, b"GET " + API.encode() + b"/pricing HTTP/1.1\r\nAuthorization: Bearer "
        + token + b"\r\n"
    )  # fmt: skip
    assert_error(status, err, 401)


@pytest.mark.parametrize("key", [b"\xff", b"k" * 300, b"a b"])
def test_a_malformed_idempotency_key_is_a_400(market: DaemonProcess, key: bytes) -> None:
    token = market.admin_token.encode()
    status, err = raw_json(
        market, b"POST " + API.encode() + b"/pay/la_x HTTP/1.1\r\nAuthorization: Bearer "
        + token + b"\r\nIdempotency-Key: " + key + b"\r\n"
    )  # fmt: skip
    assert_error(status, err, 400)
    assert "Idempotency-Key" in err["detail"]


@pytest.mark.parametrize(("method", "path"), [("TRACE", "/healthz"), ("DELETE", API + "/analyze")])
def test_a_wrong_method_is_a_405_that_says_what_is_allowed(
    market: DaemonProcess, method: str, path: str
) -> None:
    status, headers, body = raw_request(market, f"{method} {path} HTTP/1.1\r\n".encode())
    assert_error(status, json.loads(body), 405)
    allow = next(h for h in headers.split(b"\r\n") if h.lower().startswith(b"allow:"))
    assert (b"GET" if path == "/healthz" else b"POST") in allow


def test_the_daemon_logged_no_handler_error(market: DaemonProcess) -> None:
    """Run last in the module: none of the requests above reached aiohttp's 500 handler."""
    assert "Error handling request" not in market.log.read_text()

"""Known contributors: only a Sub-PKP key, never a named ``subPKPId``, decides who a socket
connection's logs credit; revoking a key takes effect on its next use. A real daemon, real
socket, real SQLite and the real ``logmarket keys`` CLI."""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, DaemonProcess, http, run_app, wait_for
from tests.rawclient import Raw

API = "/npe/log-marketplace"
SAMPLE = REPO / "daemon" / "logmarketd" / "samples" / "build-gcc-error.log"
LINES = SAMPLE.read_text().splitlines()


@pytest.fixture
def market(short_tmp: Path) -> Iterator[DaemonProcess]:
    """A daemon that pays whatever scores above 0, so an uncredited log cannot hide behind a
    low score; windows close at end of stream (or after a second)."""
    d = DaemonProcess(
        short_tmp, "--auto-pay-threshold", "0", "--window-seconds", "1",
        "--requests-per-minute", "100000", marketplace=True,
    ).start()  # fmt: skip
    try:
        yield d
    finally:
        d.stop()


def keys_cli(d: DaemonProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "keys", *args, "--state-dir", str(d.state_dir)],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip


def scalar(db: Path, sql: str, params: tuple[Any, ...] = ()) -> Any:
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchone()[0]


def analyses(db: Path) -> int:
    return int(scalar(db, "SELECT COUNT(*) FROM analyses"))


def balance(d: DaemonProcess, sub: str) -> float:
    """What the Sub-PKP was credited: settled and pending."""
    status, body = http("GET", f"{d.url}{API}/sub-pkp/{sub}", token=d.admin_token)
    if status == 404:
        return 0.0
    assert status == 200, body
    return float(body["balance"]) + float(body["pending"])


def send_sample(conn: Raw, sub: str | None = None) -> None:
    """The sample log as one batch, the last line ending the stream; waits for the ack."""
    records: list[dict[str, Any]] = [{"message": line} for line in LINES]
    records[-1]["eof"] = True
    if sub is not None:
        for rec in records:
            rec["subPKPId"] = sub
    conn.send({"type": "batch", "seq": 0, "records": records})
    assert conn.read()["type"] == "ack"


def hello(conn: Raw, **fields: Any) -> dict[str, Any]:
    welcome = conn.hello(f"c-{secrets.token_hex(6)}", source="build", stream="ci.log", **fields)
    assert welcome["type"] == "welcome", welcome
    return welcome


def test_invented_socket_ids_are_credited_nothing(
    market: DaemonProcess, raw: Callable[..., Raw]
) -> None:
    """30 connections, each naming a random Sub-PKP in its hello and no key: their logs are
    analysed (30 analyses) but credited to no account, and nothing is paid."""
    invented = [f"ghost-{secrets.token_hex(4)}" for _ in range(30)]
    for sub in invented:
        conn = raw(market.socket)
        welcome = hello(conn, subPKPId=sub)
        assert welcome.get("credited") is None
        send_sample(conn)
    assert wait_for(lambda: analyses(market.db) >= 30, 60)
    assert all(balance(market, sub) == 0 for sub in invented)
    assert scalar(market.db, "SELECT COUNT(*) FROM transactions") == 0
    assert scalar(market.db, "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id IS NOT NULL") == 0


def test_a_keyed_connection_credits_its_own_sub_pkp_only(
    market: DaemonProcess, raw: Callable[..., Raw]
) -> None:
    """A connection with alice's key credits alice, though its hello and every record name
    mallory; mallory gets nothing."""
    key = market.make_key("alice")
    conn = raw(market.socket)
    welcome = hello(conn, key=key, subPKPId="mallory")
    assert welcome["credited"] == "alice"
    send_sample(conn, sub="mallory")
    assert wait_for(lambda: analyses(market.db) >= 1, 60)
    assert balance(market, "alice") > 0
    assert balance(market, "mallory") == 0
    assert scalar(market.db, "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = 'mallory'") == 0
    assert market.metrics().get('logmarket_hello_keys_total{result="accepted"}') == 1


def test_an_invalid_key_is_answered_uncredited_and_the_records_are_kept(
    market: DaemonProcess, raw: Callable[..., Raw]
) -> None:
    """A wrong key does not close the connection: the welcome says ``credited: null``, the
    records are stored and analysed, and the refusal is counted."""
    key = market.make_key("alice")
    conn = raw(market.socket)
    welcome = hello(conn, key=key[:-4] + "AAAA", subPKPId="alice")
    assert welcome["credited"] is None
    send_sample(conn)
    assert wait_for(lambda: analyses(market.db) >= 1, 60)
    assert balance(market, "alice") == 0
    assert market.metrics().get('logmarket_hello_keys_total{result="refused"}') == 1


@pytest.mark.parametrize("how", ["cli", "http"])
def test_a_revoked_key_fails_on_its_next_request(
    market: DaemonProcess, raw: Callable[..., Raw], how: str
) -> None:
    """Revoked by the CLI or the admin endpoint: the key's next HTTP request is a 401 and its
    next socket hello is uncredited."""
    key = market.make_key("bob")
    key_id = key.split("_")[1]
    url = f"{market.url}{API}/sub-pkp/bob"
    assert http("GET", url, token=key)[0] == 200
    assert hello(raw(market.socket), key=key)["credited"] == "bob"
    if how == "cli":
        keys_cli(market, "revoke", key_id)
    else:
        status, body = http(
            "POST", f"{market.url}{API}/keys/{key_id}/revoke", token=market.admin_token
        )
        assert status == 200 and body["keyId"] == key_id and body["subPKPId"] == "bob", body
    status, body = http("GET", url, token=key)
    assert status == 401 and body["error"] == "unauthorized", body
    assert hello(raw(market.socket), key=key)["credited"] is None


def test_revoking_needs_the_admin_and_a_known_key(market: DaemonProcess) -> None:
    key = market.make_key("carol")
    key_id = key.split("_")[1]
    revoke = f"{market.url}{API}/keys/{{}}/revoke"
    status, body = http("POST", revoke.format(key_id), token=key)
    assert status == 403 and body["error"] == "forbidden", body
    status, body = http("POST", revoke.format("0123456789abcdef"), token=market.admin_token)
    assert status == 404 and body["error"] == "not-found", body


def test_the_handler_with_logmarket_key_credits_its_sub_pkp(market: DaemonProcess) -> None:
    key = market.make_key("dora")
    code = (
        "import logging, logmarket\n"
        "logmarket.install(flush_timeout=30)\n"
        "log = logging.getLogger('build')\n"
        f"for line in {LINES!r}:\n"
        "    log.error('%s', line)\n"
    )
    env = {"LOGMARKET_SOCKET": str(market.socket), "LOGMARKET_KEY": key,
           "LOGMARKET_SUB_PKP_ID": "mallory", "LOGMARKET_SOURCE": "build"}  # fmt: skip
    result = run_app(code, env)
    assert result.returncode == 0, result.stderr
    assert wait_for(lambda: analyses(market.db) >= 1, 60)
    assert scalar(market.db, "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = 'dora'") >= 1
    assert scalar(market.db, "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = 'mallory'") == 0


def test_a_mapped_unix_user_is_credited_without_a_key(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    """``--peer-uid-credit UID=ID``: a keyless connection from that user (SO_PEERCRED, the
    kernel's word) credits ID, whatever it names; a valid key still credits its own."""
    d = DaemonProcess(short_tmp, "--peer-uid-credit", f"{os.getuid()}=svc",
                      "--peer-uid-credit", f"{os.getuid() + 1}=other", marketplace=True).start()  # fmt: skip
    try:
        conn = raw(d.socket)
        assert hello(conn, subPKPId="alice")["credited"] == "svc"
        send_sample(conn)
        bare = raw(d.socket)  # no hello at all (no acks either): the user still decides
        records: list[dict[str, Any]] = [{"message": line} for line in LINES]
        records[-1]["eof"] = True
        bare.send({"type": "batch", "seq": 0, "records": records})
        key = keys_cli(d, "create", "keyed").stdout.strip()
        keyed = raw(d.socket)
        assert hello(keyed, key=key)["credited"] == "keyed"
        assert wait_for(lambda: analyses(d.db) >= 2, 60)
        assert scalar(d.db, "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id = 'svc'") == 2
        assert scalar(d.db, "SELECT COUNT(*) FROM analyses WHERE sub_pkp_id IS NULL") == 0
    finally:
        d.stop()


def test_an_unmapped_unix_user_is_credited_nothing(
    short_tmp: Path, raw: Callable[..., Raw]
) -> None:
    d = DaemonProcess(short_tmp, "--peer-uid-credit", f"{os.getuid() + 1}=other",
                      marketplace=True).start()  # fmt: skip
    try:
        conn = raw(d.socket)
        assert hello(conn, subPKPId="other")["credited"] is None
    finally:
        d.stop()

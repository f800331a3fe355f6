"""Random frames of every protocol type against the real daemon: each one is stored or refused
with a reason, the connection it came on keeps working, /healthz stays ok, and a well-behaved
client on its own connection is acknowledged and stored throughout."""

from __future__ import annotations

import contextlib
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import DaemonProcess, counters, stored_messages
from tests.rawclient import Raw, secret_for

REASONS = {"invalid-json", "invalid-frame", "too-large", "client-auth"}
PROBE_SEQ = 2**63 - 1
EXAMPLES = 600


def _not_probe(seq: object) -> bool:
    """The probe batch's seq is the highest one; a fuzzed batch never takes it."""
    return seq != PROBE_SEQ


big_ints = st.sampled_from([2**63, 2**63 - 1, -(2**63), -(2**63) - 1, 10**30, -(10**30), 2**64])
ints = st.one_of(st.integers(-(2**70), 2**70), big_ints)
huge_text = st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "\\", "\x00", "😀"]),
                      st.integers(0, 1_200_000))  # fmt: skip
texts = st.one_of(st.text(max_size=40), st.text(max_size=40), st.text(max_size=40), huge_text)
anything = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, st.floats(), texts),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
RECORD_FIELDS = {
    "ts": st.one_of(st.floats(), ints), "level": texts, "levelno": ints, "logger": texts,
    "file": texts, "line": ints, "func": texts, "thread": ints, "threadName": texts,
    "process": ints, "exc": texts, "stack": texts, "extra": anything, "event": anything,
    "source": st.sampled_from(["build", "test", "deploy", "runtime", "Build", ""]),
    "subPKPId": st.one_of(st.none(), texts), "stream": st.one_of(st.none(), texts),
    "eof": anything,
}  # fmt: skip
record = st.fixed_dictionaries(
    {"message": st.one_of(texts, texts, anything)},
    optional={k: st.one_of(v, anything) for k, v in RECORD_FIELDS.items()},
)
batch = st.fixed_dictionaries(
    {"type": st.just("batch"), "seq": st.one_of(ints, ints, anything).filter(_not_probe),
     "records": st.one_of(st.lists(record, max_size=4), anything)},
    optional={"dropped": st.one_of(ints, anything)},
)  # fmt: skip
hello = st.fixed_dictionaries(
    {"type": st.just("hello")},
    optional={
        "version": st.one_of(ints, anything), "clientId": st.one_of(texts, anything),
        "clientSecret": st.one_of(texts, anything), "host": st.one_of(texts, anything),
        "pid": st.one_of(ints, anything), "source": RECORD_FIELDS["source"],
        "subPKPId": st.one_of(texts, anything), "stream": st.one_of(texts, anything),
        "acks": anything, "dropped": st.one_of(ints, anything),
    },
)  # fmt: skip
# Frames of the right shape with values at and past the edges, so that many are accepted too.
edge_ints = st.one_of(st.integers(0, 2**63 - 1), big_ints)
valid_record = st.fixed_dictionaries(
    {"message": texts},
    optional={"ts": st.floats(0, 2e11), "level": st.text(max_size=10), "levelno": edge_ints,
              "line": edge_ints, "logger": st.text(max_size=30), "extra": anything,
              "subPKPId": st.text(max_size=20), "stream": st.text(max_size=20)},
)  # fmt: skip
valid_batch = st.fixed_dictionaries(
    {"type": st.just("batch"), "seq": edge_ints.filter(_not_probe), "records": st.lists(valid_record, max_size=4)},
    optional={"dropped": edge_ints},
)  # fmt: skip
valid_hello = st.fixed_dictionaries(
    {"type": st.just("hello"), "clientId": st.text(min_size=1, max_size=40)},
    optional={"clientSecret": st.text(min_size=14, max_size=300), "pid": edge_ints,
              "host": texts, "stream": texts, "acks": st.booleans(), "dropped": edge_ints},
)  # fmt: skip
record_frame = st.builds(lambda r: {"type": "record", **r}, record)
other = st.fixed_dictionaries({"type": st.one_of(st.text(max_size=10), anything)})
frames = st.one_of(
    valid_batch.map(json.dumps),
    valid_batch.map(json.dumps),
    valid_hello.map(json.dumps),
    st.builds(lambda r: {"type": "record", **r}, valid_record).map(json.dumps),
    batch.map(json.dumps),
    batch.map(json.dumps),
    hello.map(json.dumps),
    record_frame.map(json.dumps),
    other.map(json.dumps),
    anything.map(json.dumps),
    st.binary(max_size=300).map(lambda b: b.replace(b"\n", b" ").decode("latin-1")),
)


def _encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass").replace(b"\n", b" ") + b"\n"


def _read_until_probe(conn: Raw) -> list[dict[str, Any]] | None:
    """Replies up to the probe's ack; None when the daemon closed the connection first."""
    replies: list[dict[str, Any]] = []
    while True:
        try:
            reply = conn.read()
        except (AssertionError, OSError):  # closed by the daemon
            return replies if replies else None
        replies.append(reply)
        if reply.get("type") == "ack" and reply.get("seq") == PROBE_SEQ:
            return replies


@pytest.fixture(scope="module")
def fuzz_daemon() -> Iterator[DaemonProcess]:
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="lmfz", dir="/tmp"))
    d = DaemonProcess(root).start()
    try:
        yield d
    finally:
        d.stop()
        shutil.rmtree(root, ignore_errors=True)


def test_random_frames_are_stored_or_refused_and_nobody_is_stalled(
    fuzz_daemon: DaemonProcess,
) -> None:
    d = fuzz_daemon
    good = Raw(d.socket, timeout=30)
    assert good.hello("well-behaved-client")["type"] == "welcome"
    ids = itertools.count()
    tally = {"frames": 0, "stored": 0, "refused": 0, "good": 0, "expected_records": 0}

    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                               HealthCheck.large_base_example],
    )  # fmt: skip
    @given(frame=frames)
    def one(frame: str) -> None:
        n = next(ids)
        me = f"fuzz-{n}"
        conn = Raw(d.socket, timeout=30)
        try:
            assert conn.hello(me)["type"] == "welcome"
            rehello = {"type": "hello", "clientId": me, "clientSecret": secret_for(me)}
            probe = {"type": "batch", "seq": PROBE_SEQ, "records": [{"message": f"p{n}"}]}
            with contextlib.suppress(OSError):  # a refused hello closes the connection
                conn.send(
                    _encode(frame) + _encode(json.dumps(rehello)) + _encode(json.dumps(probe))
                )
            replies = _read_until_probe(conn)
        finally:
            conn.close()
        tally["frames"] += 1
        if replies is None or replies[-1].get("seq") != PROBE_SEQ:
            # Only a refused hello ends a connection, and it says so first.
            assert replies is not None and len(replies) == 1, replies
            assert replies[0] == {**replies[0], "type": "error", "reason": "client-auth"}
            tally["refused"] += 1
        else:
            # Acks are sent as commits finish, a welcome at once: sort the answers by kind.
            welcomes = [r for r in replies[:-1] if r["type"] == "welcome"]
            own = [r for r in replies[:-1] if r["type"] != "welcome"] + welcomes[1:]
            assert welcomes and len(own) <= 1, replies
            probe_stored = not replies[-1]["duplicate"]
            tally["expected_records"] += probe_stored
            if own and own[0]["type"] == "error":
                assert own[0]["reason"] in REASONS, own
                tally["refused"] += 1
            else:
                tally["stored"] += 1
                tally["expected_records"] += _accepted_records(frame, own)
        assert good.batch(tally["good"], f"good-{tally['good']}")["type"] == "ack"
        tally["good"] += 1

    try:
        one()
    finally:
        good.close()
    print(f"\nframes fuzzed: {tally['frames']} (accepted {tally['stored']}, "
          f"refused with a reason {tally['refused']})")  # fmt: skip
    assert tally["frames"] == EXAMPLES and tally["refused"] > 0 and tally["stored"] > 0
    assert d.healthy()
    messages = stored_messages(d.db)
    assert [m for m in messages if isinstance(m, str) and m.startswith("good-")] == [
        f"good-{i}" for i in range(tally["good"])
    ]
    assert counters(d.db)["records_stored"] == tally["expected_records"] + tally["good"]


def _accepted_records(frame: str, own: list[dict[str, Any]]) -> int:
    """How many records an accepted frame stored: a batch's unless acked as a resend, one for
    a bare record, none for a hello or a blank line."""
    if not _encode(frame).strip():
        assert not own, own
        return 0
    obj = json.loads(frame)
    if obj["type"] == "batch":
        assert own and own[0]["type"] == "ack", own
        return 0 if own[0]["duplicate"] else len(obj["records"])
    if obj["type"] == "record":
        assert not own, own
        return 1
    assert obj["type"] == "hello" and own and own[0]["type"] == "welcome", own
    return 0

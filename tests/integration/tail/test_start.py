"""The first start, the client secret, and what ``logmarket tail`` says about the daemon.

* Only the files there when the tailer starts follow ``from_beginning`` (default: from their
  end, as they stood then); a file created after that is read from its first line, even if
  the first scan is what finds it (issue #10: a file created right after start lost its
  first 201 lines).
* The checkpoint (mode 0600) keeps a client secret next to the client id, sent in the hello;
  an older checkpoint without one gets one, kept from then on.
* ``logmarket tail`` says once when it cannot reach the daemon (which socket, how to start
  it) and once when it is back - not once per retry.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import stat
import time
import uuid

import pytest

from tests.integration.tail.test_harness import (
    DaemonProc,
    TailThread,
    _shared_daemon,
    config,
    daemon,
    tail_cli,
    tmp,
    wait_for,
)

__all__ = ["_shared_daemon", "daemon", "tmp"]

pytestmark = pytest.mark.filterwarnings("ignore:Callback with id:RuntimeWarning")


def _write(path: str, lines: list[str]) -> None:
    with open(path, "a") as f:
        f.writelines(line + "\n" for line in lines)


@pytest.mark.parametrize("mode", ["events", "poll"])
def test_a_file_created_after_start_is_read_from_its_first_line(
    tmp: str, daemon: DaemonProc, mode: str
) -> None:
    """``old.log`` is there at start (its 50 lines are not sent, what follows is); ``new.log``
    is created once the tailer exists, before its first scan: all its 201 lines are sent."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    old, new = os.path.join(logs, "old.log"), os.path.join(logs, "new.log")
    _write(old, [f"old {i}" for i in range(50)])
    t = TailThread(config(tmp, daemon, [os.path.join(logs, "*.log")], mode=mode))
    _write(new, [f"new {i}" for i in range(201)])  # the tailer is made, not yet scanning
    t.start()
    try:
        _write(old, [f"old {i}" for i in range(50, 60)])
        _write(new, [f"new {i}" for i in range(201, 210)])
        later = os.path.join(logs, "later.log")
        _write(later, [f"later {i}" for i in range(30)])
        wait_for(lambda: len(daemon.messages()) >= 10 + 210 + 30, 20)
        time.sleep(0.3)
    finally:
        t.stop()
    got = daemon.messages()
    assert [m for m in got if m.startswith("new")] == [f"new {i}" for i in range(210)]
    assert [m for m in got if m.startswith("old")] == [f"old {i}" for i in range(50, 60)]
    assert [m for m in got if m.startswith("later")] == [f"later {i}" for i in range(30)]


def test_checkpoint_keeps_a_client_secret_sent_in_the_hello(tmp: str, daemon: DaemonProc) -> None:
    """The secret is made with the client id, kept in the 0600 checkpoint, sent in every
    hello; a checkpoint written before secrets existed gets one, kept from then on."""
    path = os.path.join(tmp, "app.log")
    _write(path, ["a0"])
    cfg = config(tmp, daemon, [path], from_beginning=True)
    ckpt = cfg.checkpoint_path

    def run_once(line: str) -> dict[str, object]:
        t = TailThread(cfg).start()
        try:
            _write(path, [line])
            wait_for(lambda: line in daemon.messages())
            hello = dict(t.tailer.shipper.hello)
        finally:
            t.stop()
        with open(ckpt) as f:
            saved: dict[str, object] = json.load(f)
        assert stat.S_IMODE(os.stat(ckpt).st_mode) == 0o600
        assert hello["clientId"] == saved["clientId"]
        assert hello["clientSecret"] == saved["clientSecret"]
        return saved

    first = run_once("a1")
    secret = first["clientSecret"]
    assert isinstance(secret, str) and len(secret) >= 32
    assert run_once("a2")["clientSecret"] == secret  # kept across restarts
    # As an older tailer wrote it: no secret, under an id the daemon never bound to one (a
    # bound id with a new secret is refused as a takeover, which the daemon's tests cover).
    del first["clientSecret"]
    first["clientId"] = uuid.uuid4().hex
    with open(ckpt, "w") as f:
        json.dump(first, f)
    os.chmod(ckpt, 0o644)
    renewed = run_once("a3")["clientSecret"]
    assert renewed not in (None, secret)
    assert run_once("a4")["clientSecret"] == renewed
    # Nothing lost, in order; under the new id a batch still in flight may come once more.
    assert list(dict.fromkeys(daemon.messages())) == ["a0", "a1", "a2", "a3", "a4"]


def test_cli_says_once_when_the_daemon_is_unreachable_and_once_when_it_is_back(
    tmp: str,
) -> None:
    """No daemon at first, then one, then it is killed and started again: two lines each
    way on stderr however many retries, naming the socket and how to start the daemon."""
    logs = os.path.join(tmp, "logs")
    os.makedirs(logs)
    path = os.path.join(logs, "app.log")
    _write(path, [])
    d = DaemonProc(tmp)
    ckpt = os.path.join(tmp, "ckpt.json")
    proc = tail_cli([path], d.sock, ckpt)
    try:
        wait_for(lambda: os.path.exists(ckpt), 20)
        _write(path, ["one"])
        time.sleep(2.0)  # several attempts, backing off
        d.start()
        wait_for(lambda: d.messages() == ["one"], 20)
        d.kill()
        _write(path, ["two"])
        time.sleep(2.0)
        d.start()
        wait_for(lambda: d.messages() == ["one", "two"], 20)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        d.kill()
    with open(os.path.join(tmp, "tail.log")) as f:
        said = [ln.rstrip("\n") for ln in f if ln.startswith("logmarket tail: ")]
    stopped = next(ln for ln in said if ln.startswith("logmarket tail: stopped "))
    stats = ast.literal_eval(stopped.removeprefix("logmarket tail: stopped "))
    assert stats["connect_failures"] > 4  # retried many times...
    down = [ln for ln in said if "cannot reach the daemon" in ln]
    back = [ln for ln in said if "reconnected" in ln]
    assert len(down) == 2 and len(back) == 2, said  # ...and said so once each time
    assert all(d.sock in ln and f"logmarketd --socket {d.sock}" in ln for ln in down)
    assert all(d.sock in ln for ln in back)

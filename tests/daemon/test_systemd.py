"""systemd: sd_notify and socket activation against real sockets and processes, and the unit
files checked by systemd's own tools (``systemd-analyze verify`` and ``security``,
``systemd-sysusers``), which come with Debian's ``systemd`` package.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from logmarketd.errors import LogmarketdError, StartupError
from logmarketd.metrics import Metrics
from logmarketd.settings import load_settings
from logmarketd.systemd import (
    INGEST_FD_NAME,
    Notifier,
    NotifyError,
    listen_fds,
    listen_fds_with_names,
    notify,
    status_line,
    watchdog_interval,
)

from tests.conftest import REPO

UNITS = REPO / "systemd"
SERVICE = UNITS / "logmarketd.service"
SOCKET = UNITS / "logmarketd.socket"
MAX_EXPOSURE = 2.0


# -- helpers ----------------------------------------------------------------------------------


class NotifyReceiver:
    """The service manager's end: a real AF_UNIX datagram socket, at a path or abstract."""

    def __init__(self, address: str) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(10)
        # What a service finds in $NOTIFY_SOCKET: the path, or "@" for the abstract namespace.
        self.env_value = "@" + address[1:] if address.startswith("\0") else address

    def recv(self) -> list[str]:
        return self.sock.recv(4096).decode().split("\n")

    async def arecv(self) -> list[str]:
        self.sock.setblocking(False)
        data = await asyncio.wait_for(asyncio.get_running_loop().sock_recv(self.sock, 4096), 10)
        return data.decode().split("\n")


@pytest.fixture
def receiver(short_tmp: Path) -> Iterator[NotifyReceiver]:
    r = NotifyReceiver(str(short_tmp / "notify"))
    yield r
    r.sock.close()


# Stands in for systemd between fork and exec: moves the given fds to 3, 4, ..., sets
# LISTEN_PID to its own pid (kept across exec) and execs the child program.
ACTIVATOR = """
import fcntl, os, sys
n = int(sys.argv[1])
fds = [int(a) for a in sys.argv[2:2 + n]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]  # no clash while renumbering
for target, fd in enumerate(high, start=3):
    os.dup2(fd, target)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(n)
os.execv(sys.executable, [sys.executable, *sys.argv[2 + n:]])
"""


def activate(socks: list[Any], child: str, *, names: str | None = None) -> subprocess.Popen[str]:
    """Start ``python -c child`` with ``socks`` as its fds 3.. and LISTEN_* set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTEN_")}
    if names is not None:
        env["LISTEN_FDNAMES"] = names
    fds = [s if isinstance(s, int) else s.fileno() for s in socks]
    return subprocess.Popen(
        [sys.executable, "-c", ACTIVATOR, str(len(fds)), *map(str, fds), "-c", child],
        pass_fds=fds,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def unix_listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(8)
    return sock


def parse_unit(path: Path) -> dict[str, list[tuple[str, str]]]:
    """Sections of a unit file as (key, value) lists: keys may repeat (SystemCallFilter=)."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        else:
            key, _, value = line.partition("=")
            current.append((key.strip(), value.strip()))
    return sections


def unit_value(path: Path, section: str, key: str) -> str:
    values = [v for k, v in parse_unit(path)[section] if k == key]
    assert len(values) == 1, f"{key}= appears {len(values)} times in {path.name}"
    return values[0]


def tool(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is missing: apt-get install -y systemd"
    return found


def install_root(root: Path) -> Path:
    """A file-system root with the units installed, as systemd-analyze --root= reads it:
    the distribution's own units (targets our units depend on), ours in /etc, and the
    console script pip generates for ``logmarketd`` where ExecStart= expects it.
    """
    candidates = [Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")]
    shipped = [p for p in candidates if (p / "sysinit.target").exists()]
    assert shipped, "systemd's own units are missing: apt-get install -y systemd"
    shutil.copytree(shipped[0], root / "usr/lib/systemd/system", symlinks=True)
    etc = root / "etc/systemd/system"
    etc.mkdir(parents=True)
    for unit in (SERVICE, SOCKET):
        shutil.copy(unit, etc / unit.name)
    exec_start = unit_value(SERVICE, "Service", "ExecStart").split()[0]
    binary = root / exec_start.lstrip("/")
    binary.parent.mkdir(parents=True)
    script = shutil.which("logmarketd", path=str(Path(sys.executable).parent))
    assert script, "the logmarketd console script is not installed next to this python"
    shutil.copy(script, binary)
    return root


def analyze(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("systemd-analyze"), *args], capture_output=True, text=True, timeout=60
    )


# -- sd_notify --------------------------------------------------------------------------------


def test_without_notify_socket_nothing_is_sent() -> None:
    """No $NOTIFY_SOCKET (a shell, a container): notify and every Notifier call do nothing."""
    assert notify("READY=1", environ={}) is False
    assert notify("READY=1", environ={"NOTIFY_SOCKET": ""}) is False
    notifier = Notifier({"WATCHDOG_USEC": "1000000"})
    assert not notifier.enabled
    assert notifier.watchdog is None
    assert notifier.ready("up") is False
    assert notifier.stopping() is False
    asyncio.run(asyncio.wait_for(notifier.run(lambda: "x"), 5))  # returns at once


def test_notify_sends_one_datagram_to_a_path_socket(receiver: NotifyReceiver) -> None:
    """Assignments arrive together, newline-separated, in one datagram."""
    env = {"NOTIFY_SOCKET": receiver.env_value}
    assert notify("READY=1", "STATUS=3 connections", environ=env) is True
    assert receiver.recv() == ["READY=1", "STATUS=3 connections"]


def test_notify_reaches_an_abstract_namespace_socket() -> None:
    """``@name`` in $NOTIFY_SOCKET is the abstract socket ``\\0name`` (no file on disk)."""
    r = NotifyReceiver(f"\0logmarket-test-{uuid.uuid4().hex}")
    try:
        assert r.env_value.startswith("@")
        assert notify("STATUS=abstract", environ={"NOTIFY_SOCKET": r.env_value})
        assert r.recv() == ["STATUS=abstract"]
        assert Notifier({"NOTIFY_SOCKET": r.env_value}).stopping("bye")
        assert r.recv() == ["STOPPING=1", "STATUS=bye"]
    finally:
        r.sock.close()


def test_notify_reads_the_process_environment(
    receiver: NotifyReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """By default the address comes from os.environ, as systemd sets it for the service."""
    monkeypatch.setenv("NOTIFY_SOCKET", receiver.env_value)
    assert notify("STATUS=from env")
    assert receiver.recv() == ["STATUS=from env"]


def test_undeliverable_notification_raises_notify_error_and_notifier_counts_it(
    short_tmp: Path,
) -> None:
    """notify() raises NotifyError (an OSError); Notifier logs, counts and carries on."""
    env = {"NOTIFY_SOCKET": str(short_tmp / "nobody-listens")}
    with pytest.raises(NotifyError, match="nobody-listens") as info:
        notify("READY=1", environ=env)
    assert isinstance(info.value, OSError) and isinstance(info.value, LogmarketdError)
    notifier = Notifier(env)
    assert notifier.ready("up") is False
    assert notifier.status("still up") is False
    assert (notifier.failures, notifier.sent) == (2, 0)


def test_malformed_assignment_and_address_are_refused(short_tmp: Path) -> None:
    """A multi-line or key-less assignment is a ValueError; a relative address is refused."""
    env = {"NOTIFY_SOCKET": str(short_tmp / "n")}
    with pytest.raises(ValueError, match="KEY=value"):
        notify("STATUS=a\nREADY=1", environ=env)
    with pytest.raises(ValueError, match="KEY=value"):
        notify("READY", environ=env)
    with pytest.raises(NotifyError, match="absolute"):
        notify("READY=1", environ={"NOTIFY_SOCKET": "relative/sock"})
    with pytest.raises(StartupError, match="absolute"):
        Notifier({"NOTIFY_SOCKET": "relative/sock"})


def test_watchdog_interval_is_half_of_watchdog_usec_for_our_pid_only() -> None:
    """WATCHDOG_USEC=30 s → ping every 15 s; WATCHDOG_PID of another process → no watchdog."""
    assert watchdog_interval({}) is None
    assert watchdog_interval({"WATCHDOG_USEC": "30000000"}) == 15.0
    mine = {"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}
    assert watchdog_interval(mine) == 15.0
    assert watchdog_interval({**mine, "WATCHDOG_PID": str(os.getpid() + 1)}) is None
    for bad in ({"WATCHDOG_USEC": "soon"}, {"WATCHDOG_USEC": "0"}, {**mine, "WATCHDOG_PID": "-"}):
        with pytest.raises(StartupError, match="WATCHDOG_"):
            watchdog_interval(bad)


async def test_notifier_ready_then_watchdog_pings_and_status_updates(
    receiver: NotifyReceiver,
) -> None:
    """READY=1 carries STATUS= and a first ping; then WATCHDOG=1 keeps coming, STATUS= follows
    the counts when they change."""
    env = {"NOTIFY_SOCKET": receiver.env_value, "WATCHDOG_USEC": "200000"}
    notifier = Notifier(env, status_interval=0.1)
    assert notifier.watchdog == 0.1
    assert notifier.ready("starting\nup")
    assert await receiver.arecv() == ["READY=1", "STATUS=starting up", "WATCHDOG=1"]
    counts = iter(range(1000))
    task = asyncio.create_task(notifier.run(lambda: f"{next(counts)} records stored"))
    try:
        got = [await receiver.arecv() for _ in range(3)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert [m[0] for m in got] == ["WATCHDOG=1"] * 3
    assert [m[1] for m in got] == [f"STATUS={i} records stored" for i in range(3)]
    assert notifier.failures == 0


async def test_notifier_sends_status_only_when_it_changed(receiver: NotifyReceiver) -> None:
    """Without a watchdog, an unchanged STATUS= is not sent again."""
    notifier = Notifier({"NOTIFY_SOCKET": receiver.env_value}, status_interval=0.02)
    texts = iter(["a", "a", "a", "b"])
    task = asyncio.create_task(notifier.run(lambda: next(texts, "b")))
    try:
        got = [await receiver.arecv() for _ in range(2)]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert got == [["STATUS=a"], ["STATUS=b"]]


def test_status_line_reports_live_counts() -> None:
    """STATUS= shows connections, stored records, inbox depth and rejected frames."""
    m = Metrics()
    m.connections.inc(2)
    m.records_stored.inc(5)
    m.inbox_depth.set(3)
    m.frames_rejected.labels("too-large").inc()
    m.frames_rejected.labels("invalid-json").inc(2)
    assert status_line(m) == "2 connections, 5 records stored, 3 in inbox, 3 frames rejected"
    assert (
        status_line(Metrics()) == "0 connections, 0 records stored, 0 in inbox, 0 frames rejected"
    )


# -- socket activation ------------------------------------------------------------------------

TAKE_AND_SERVE = """
import json, os
from logmarketd.systemd import activated_unix_socket
sock = activated_unix_socket()
left = sorted(k for k in os.environ if k.startswith("LISTEN_"))
print(json.dumps({"fd": sock.fileno(), "name": sock.getsockname(), "left": left,
                  "inheritable": os.get_inheritable(sock.fileno()),
                  "blocking": sock.getblocking()}), flush=True)
sock.setblocking(True)
conn, _ = sock.accept()
conn.sendall(b"served by the activated process\\n")
conn.close()
"""


def test_passed_listening_socket_is_taken_and_serves_clients(short_tmp: Path) -> None:
    """A socket bound by the manager, passed as fd 3 with LISTEN_PID = the child's pid, is the
    one the child serves on; LISTEN_* are removed and the fd is close-on-exec."""
    path = short_tmp / "a.sock"
    listener = unix_listener(path)
    proc = activate([listener], TAKE_AND_SERVE, names=INGEST_FD_NAME)
    listener.close()  # the child holds it now, as systemd keeps its copy
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(str(path))
            assert client.recv(100) == b"served by the activated process\n"
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err
    info = json.loads(out)
    assert info == {"fd": 3, "name": str(path), "left": [], "inheritable": False,
                    "blocking": False}  # fmt: skip


def test_the_socket_named_ingest_is_chosen_among_several(short_tmp: Path) -> None:
    """With two passed sockets (FileDescriptorName=http:ingest) the daemon takes ``ingest``."""
    other = unix_listener(short_tmp / "other.sock")
    ingest = unix_listener(short_tmp / "ingest.sock")
    proc = activate([other, ingest], TAKE_AND_SERVE, names="http:ingest")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(str(short_tmp / "ingest.sock"))
            assert client.recv(100).startswith(b"served")
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        other.close()
        ingest.close()
    assert proc.returncode == 0, err
    log_line, json_line = out.splitlines()  # structlog unconfigured in the child: stdout
    assert "closing a passed socket we do not use" in log_line and "name=http" in log_line
    info = json.loads(json_line)
    assert (info["fd"], info["name"]) == (4, str(short_tmp / "ingest.sock"))


LIST_NAMES = """
import json
from logmarketd.systemd import listen_fds_with_names
print(json.dumps([[n, s.fileno(), s.type.name] for n, s in listen_fds_with_names()]))
"""


def test_names_default_to_unknown_and_types_are_detected(short_tmp: Path) -> None:
    """Without LISTEN_FDNAMES every socket is ``unknown``; family and type come from the fd."""
    a = unix_listener(short_tmp / "x.sock")
    b = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        out, err = activate([a, b], LIST_NAMES).communicate(timeout=30)
    finally:
        a.close()
        b.close()
    assert json.loads(out) == [["unknown", 3, "SOCK_STREAM"], ["unknown", 4, "SOCK_DGRAM"]], err


TAKE_OR_FAIL = """
import sys
from logmarketd.errors import StartupError
from logmarketd.systemd import activated_unix_socket
try:
    activated_unix_socket()
except StartupError as exc:
    print(exc)
    sys.exit(1)
"""


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("pipe", "passed fd 3 (ingest) is not an open socket"),
        ("connected", "not listening (a connection from Accept=yes?); use Accept=no"),
        ("datagram", "is AF_UNIX/SOCK_DGRAM; use ListenStream="),
        ("tcp", "is AF_INET/SOCK_STREAM; use ListenStream="),
    ],
)
def test_unusable_passed_fd_fails_startup_with_the_fix(kind: str, message: str) -> None:
    """A pipe, an accepted connection, a datagram or TCP socket: StartupError naming the fix."""
    keep: list[Any] = []
    if kind == "pipe":
        r, w = os.pipe()
        keep = [r, w]
        fd: Any = r
    elif kind == "connected":
        keep = list(socket.socketpair())
        fd = keep[0]
    elif kind == "datagram":
        fd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        keep = [fd]
    else:
        fd = socket.create_server(("127.0.0.1", 0))
        keep = [fd]
    try:
        proc = activate([fd], TAKE_OR_FAIL, names=INGEST_FD_NAME)
        out, err = proc.communicate(timeout=30)
    finally:
        for item in keep:
            os.close(item) if isinstance(item, int) else item.close()
    assert proc.returncode == 1, err
    assert message in out


def test_several_sockets_without_one_named_ingest_fail_startup(short_tmp: Path) -> None:
    """Two sockets and no ``ingest`` among their names: no guessing, a clear error."""
    a, b = unix_listener(short_tmp / "a.sock"), unix_listener(short_tmp / "b.sock")
    try:
        proc = activate([a, b], TAKE_OR_FAIL, names="one:two")
        out, _ = proc.communicate(timeout=30)
    finally:
        a.close()
        b.close()
    assert proc.returncode == 1
    assert "2 sockets passed (one, two)" in out and "FileDescriptorName=ingest" in out


def test_listen_variables_for_another_pid_are_ignored_and_removed() -> None:
    """LISTEN_PID of another process (inherited from a parent): no fds taken, vars unset."""
    env = {"LISTEN_PID": str(os.getpid() + 1), "LISTEN_FDS": "1", "LISTEN_FDNAMES": "ingest"}
    assert listen_fds(env) == []
    assert env == {}
    assert listen_fds({}) == []
    kept = {"LISTEN_PID": "1", "LISTEN_FDS": "1"}
    assert listen_fds_with_names(kept, unset_environment=False) == []
    assert kept == {"LISTEN_PID": "1", "LISTEN_FDS": "1"}


def test_malformed_listen_variables_fail_startup() -> None:
    """Non-numeric counts, or names that do not match the count, are StartupErrors."""
    me = str(os.getpid())
    for env, match in [
        ({"LISTEN_PID": "x"}, "LISTEN_PID"),
        ({"LISTEN_PID": me, "LISTEN_FDS": "-1"}, "LISTEN_FDS"),
        ({"LISTEN_PID": me, "LISTEN_FDS": "2", "LISTEN_FDNAMES": "ingest"}, "names 1 sockets"),
    ]:
        with pytest.raises(StartupError, match=match):
            listen_fds(dict(env))
    assert listen_fds({"LISTEN_PID": me, "LISTEN_FDS": "0"}) == []


# -- the unit files ---------------------------------------------------------------------------


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    """``systemd-analyze verify --root=`` on both units: exit 0 and not a single warning."""
    root = install_root(tmp_path)
    result = analyze("verify", f"--root={root}", "logmarketd.socket", "logmarketd.service")
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).strip() == ""


def test_verify_harness_catches_a_misspelt_directive(tmp_path: Path) -> None:
    """The check above can fail: a misspelt key in an installed copy is reported."""
    root = install_root(tmp_path)
    unit = root / "etc/systemd/system/logmarketd.service"
    unit.write_text(unit.read_text().replace("NoNewPrivileges=", "NoNewPrivilege="))
    (root / "usr/local/bin/logmarketd").unlink()
    result = analyze("verify", f"--root={root}", "logmarketd.service")
    output = result.stdout + result.stderr
    assert "Unknown key 'NoNewPrivilege'" in output
    assert "/usr/local/bin/logmarketd is not executable" in output


def test_service_exposure_is_at_most_two(tmp_path: Path) -> None:
    """``systemd-analyze security --offline=true``: overall exposure ≤ 2.0 (0 best, 10 worst)."""
    root = install_root(tmp_path)
    result = analyze("security", "--offline=true", f"--root={root}", "--no-pager",
                     "logmarketd.service")  # fmt: skip
    found = re.search(r"Overall exposure level for logmarketd\.service: (\d+\.\d+)", result.stdout)
    assert found, result.stdout + result.stderr
    exposure = float(found.group(1))
    print(
        f"systemd-analyze security logmarketd.service: exposure {exposure} (limit {MAX_EXPOSURE})"
    )
    assert exposure <= MAX_EXPOSURE
    documented = re.search(r"rates it (\d+\.\d+)", (REPO / "docs/deploy.md").read_text())
    assert documented and float(documented.group(1)) == exposure, "docs/deploy.md is stale"


def test_deploy_doc_installs_files_that_exist() -> None:
    """Every systemd/ file docs/deploy.md tells an admin to install is in the repository."""
    named = set(re.findall(r"systemd/logmarketd\.\w+", (REPO / "docs/deploy.md").read_text()))
    assert named == {f"systemd/{p.name}" for p in UNITS.iterdir()}


def test_service_declares_notify_watchdog_restart_and_no_privileges() -> None:
    """The contract of the issue, read back from the unit file."""
    service = dict(parse_unit(SERVICE)["Service"])
    assert service["Type"] == "notify"
    assert service["NotifyAccess"] == "main"
    assert service["WatchdogSec"].endswith("s") and int(service["WatchdogSec"][:-1]) > 0
    assert service["Restart"] == "on-failure"
    assert service["User"] not in ("", "root", "0")
    assert service["CapabilityBoundingSet"] == ""
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["RestrictAddressFamilies"].split() == ["AF_UNIX", "AF_INET", "AF_INET6"]
    assert "adm" in service["SupplementaryGroups"].split()
    filters = [v for k, v in parse_unit(SERVICE)["Service"] if k == "SystemCallFilter"]
    assert filters == ["@system-service", "~@privileged @resources"]
    # The socket file outlives a service stop: the socket unit keeps listening in there.
    assert service["RuntimeDirectoryPreserve"] == "yes"
    assert dict(parse_unit(SERVICE)["Unit"])["Requires"] == "logmarketd.socket"


def test_units_and_example_config_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """ListenStream= is the config's socket inside RuntimeDirectory=, SocketMode= its mode,
    StateDirectory= its state_dir; ExecStart= reads the example config from /etc."""
    for name in list(os.environ):
        if name.startswith("LOGMARKET_"):
            monkeypatch.delenv(name)
    settings = load_settings({}, UNITS / "logmarketd.toml")
    service = dict(parse_unit(SERVICE)["Service"])
    sock = dict(parse_unit(SOCKET)["Socket"])
    assert Path(sock["ListenStream"]) == settings.socket_path
    assert settings.socket_path.parent == Path("/run") / service["RuntimeDirectory"]
    assert int(sock["SocketMode"], 8) == settings.socket_mode == 0o660
    assert settings.state_dir == Path("/var/lib") / service["StateDirectory"]
    assert service["WorkingDirectory"] == str(settings.state_dir)
    assert (sock["SocketUser"], sock["SocketGroup"]) == (service["User"], service["Group"])
    assert sock["FileDescriptorName"] == INGEST_FD_NAME
    assert sock["Accept"] == "no"
    args = service["ExecStart"].split()
    config = Path("/etc") / service["ConfigurationDirectory"] / "logmarketd.toml"
    assert args[1:] == ["--config", str(config)]
    assert settings.http_host_port == ("127.0.0.1", 8765)


def test_sysusers_snippet_creates_the_user_and_group_the_units_name(tmp_path: Path) -> None:
    """systemd-sysusers --root= creates logmarketd (primary group logmarket), no login shell."""
    (tmp_path / "etc").mkdir()
    result = subprocess.run(
        [tool("systemd-sysusers"), f"--root={tmp_path}", str(UNITS / "logmarketd.sysusers")],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    users = {
        u.split(":")[0]: u.split(":") for u in (tmp_path / "etc/passwd").read_text().splitlines()
    }
    groups = {
        g.split(":")[0]: g.split(":") for g in (tmp_path / "etc/group").read_text().splitlines()
    }
    service = dict(parse_unit(SERVICE)["Service"])
    user = users[service["User"]]
    assert groups[service["Group"]][2] == user[3]  # primary gid
    assert user[5] == "/var/lib/" + service["StateDirectory"]
    assert user[6].strip() == "/usr/sbin/nologin"
    assert 0 < int(user[2]) < 1000  # a system user

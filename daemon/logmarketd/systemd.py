"""The service manager's side of the daemon: readiness, status, watchdog, socket activation.

Speaks systemd's two small protocols with the standard library only (no python-systemd):

- ``sd_notify(3)``: newline-separated ``KEY=value`` assignments in one datagram to the
  ``AF_UNIX``/``SOCK_DGRAM`` socket named by ``$NOTIFY_SOCKET`` (a path, or ``@name`` for the
  abstract namespace). Without ``$NOTIFY_SOCKET`` every call does nothing, so the same daemon
  runs under ``Type=notify``, under a plain shell, or in a container.
- ``sd_listen_fds(3)``: when ``$LISTEN_PID`` is our pid, ``$LISTEN_FDS`` sockets start at fd 3,
  named by ``$LISTEN_FDNAMES``. The variables are removed once read, so a child process never
  mistakes them for its own.

A malformed environment from the manager is a ``StartupError`` (the daemon fails loudly at
startup); a notification that cannot be sent is a ``NotifyError`` that ``Notifier`` logs and
counts, never raises into the daemon's loop.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
from collections.abc import Callable, Mapping, MutableMapping

import structlog

from logmarketd.errors import LogmarketdError, StartupError
from logmarketd.metrics import REJECT_REASONS, Metrics

__all__ = [
    "INGEST_FD_NAME",
    "LISTEN_FDS_START",
    "Notifier",
    "NotifyError",
    "activated_unix_socket",
    "listen_fds",
    "listen_fds_with_names",
    "notify",
    "status_line",
    "watchdog_interval",
]

log = structlog.get_logger("logmarketd.systemd")

LISTEN_FDS_START = 3  # SD_LISTEN_FDS_START: fds 0-2 are stdio
INGEST_FD_NAME = "ingest"  # FileDescriptorName= of the client socket in logmarketd.socket
_LISTEN_VARS = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
# A manager that stops reading its notify socket must not freeze our event loop for long;
# a lost STATUS= is harmless and a lost WATCHDOG=1 is retried at the next tick.
_SEND_TIMEOUT = 1.0


class NotifyError(LogmarketdError, OSError):
    """A notification could not be delivered to the service manager."""


def _notify_address(value: str) -> bytes:
    """The ``sockaddr_un`` path for a ``$NOTIFY_SOCKET`` value (``@`` = abstract namespace)."""
    if value.startswith("@"):
        return b"\0" + os.fsencode(value[1:])
    if value.startswith("/"):
        return os.fsencode(value)
    # systemd >= 254 may also pass "vsock:CID:PORT" to a virtual machine; not a case for us.
    raise StartupError(f"NOTIFY_SOCKET={value!r} is neither an absolute path nor @abstract")


def notify(*assignments: str, environ: Mapping[str, str] | None = None) -> bool:
    """Send ``KEY=value`` assignments (``READY=1``, ``STATUS=...``) in one datagram.

    Returns False, having done nothing, when ``$NOTIFY_SOCKET`` is unset or empty; True once
    the datagram is sent. Raises ``NotifyError`` when it cannot be sent and ``ValueError``
    for an assignment that is not one ``KEY=value`` line.
    """
    env = os.environ if environ is None else environ
    value = env.get("NOTIFY_SOCKET", "")
    if not value:
        return False
    try:
        address = _notify_address(value)
    except StartupError as exc:
        raise NotifyError(str(exc)) from exc
    return _send(address, assignments)


def _send(address: bytes, assignments: tuple[str, ...]) -> bool:
    for item in assignments:
        if "=" not in item or "\n" in item:
            raise ValueError(f"not a single KEY=value assignment: {item!r}")
    data = "\n".join(assignments).encode("utf-8")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(_SEND_TIMEOUT)
            sock.sendto(data, address)
    except OSError as exc:
        shown = os.fsdecode(address).replace("\0", "@", 1)
        raise NotifyError(f"cannot notify the service manager at {shown}: {exc}") from exc
    return True


def _parse_count(name: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise StartupError(f"{name}={text!r} from the service manager is not a number")
    return int(text)


def watchdog_interval(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds between ``WATCHDOG=1`` pings: half of ``$WATCHDOG_USEC``, as sd_watchdog_enabled(3)
    advises; None when no watchdog is set, or it is meant for another pid (``$WATCHDOG_PID``).
    """
    env = os.environ if environ is None else environ
    usec_text = env.get("WATCHDOG_USEC")
    if not usec_text:
        return None
    usec = _parse_count("WATCHDOG_USEC", usec_text)
    if usec == 0:
        raise StartupError("WATCHDOG_USEC=0 from the service manager: not a usable interval")
    pid_text = env.get("WATCHDOG_PID")
    if pid_text and _parse_count("WATCHDOG_PID", pid_text) != os.getpid():
        return None
    return usec / 2 / 1_000_000


def listen_fds_with_names(
    environ: MutableMapping[str, str] | None = None, *, unset_environment: bool = True
) -> list[tuple[str, socket.socket]]:
    """The sockets the service manager passed us, with their ``FileDescriptorName=``.

    Follows sd_listen_fds_with_names(3): nothing unless ``$LISTEN_PID`` is our pid; fds
    ``3 .. 3+$LISTEN_FDS-1``, made close-on-exec; names from ``$LISTEN_FDNAMES`` (colon
    separated, ``unknown`` when unset). The three variables are removed (also when they are
    not for us) unless ``unset_environment`` is False. An fd that is not an open socket is a
    ``StartupError``.
    """
    env = os.environ if environ is None else environ
    pid_text, count_text, names_text = (env.get(name) for name in _LISTEN_VARS)
    if unset_environment:
        for name in _LISTEN_VARS:
            env.pop(name, None)  # os.environ.pop also unsets it for child processes
    if not pid_text or _parse_count("LISTEN_PID", pid_text) != os.getpid():
        return []
    if count_text is None:
        return []
    count = _parse_count("LISTEN_FDS", count_text)
    names = names_text.split(":") if names_text is not None else ["unknown"] * count
    if len(names) != count:
        raise StartupError(f"LISTEN_FDNAMES names {len(names)} sockets but LISTEN_FDS says {count}")
    out: list[tuple[str, socket.socket]] = []
    for fd, name in zip(range(LISTEN_FDS_START, LISTEN_FDS_START + count), names, strict=True):
        try:
            os.set_inheritable(fd, False)
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            for _, taken in out:
                taken.close()
            raise StartupError(f"passed fd {fd} ({name}) is not an open socket: {exc}") from exc
        out.append((name, sock))
    return out


def listen_fds(environ: MutableMapping[str, str] | None = None) -> list[socket.socket]:
    """The sockets passed by the service manager, in order (see ``listen_fds_with_names``)."""
    return [sock for _, sock in listen_fds_with_names(environ)]


def activated_unix_socket(environ: MutableMapping[str, str] | None = None) -> socket.socket | None:
    """The listening client socket handed over by ``logmarketd.socket``, or None.

    One passed socket is used whatever its name; among several, the one named ``ingest``
    (the others are closed). It must be a listening ``AF_UNIX`` stream socket: a datagram or
    TCP socket, or an ``Accept=yes`` connection, is a ``StartupError`` naming the fix. The
    socket is returned non-blocking, ready for ``IngestServer.start``.
    """
    passed = listen_fds_with_names(environ)
    if not passed:
        return None
    if len(passed) == 1:
        chosen = passed[0][1]
    else:
        named = [sock for name, sock in passed if name == INGEST_FD_NAME]
        if len(named) != 1:
            for _, sock in passed:
                sock.close()
            listed = ", ".join(name for name, _ in passed)
            raise StartupError(
                f"{len(passed)} sockets passed ({listed}) and not exactly one named "
                f"{INGEST_FD_NAME!r}: set FileDescriptorName={INGEST_FD_NAME} on the client socket"
            )
        chosen = named[0]
        for name, sock in passed:
            if sock is not chosen:
                log.warning("closing a passed socket we do not use", name=name)
                sock.close()
    problem = _not_a_unix_listener(chosen)
    if problem:
        chosen.close()
        raise StartupError(f"the passed socket {problem}")
    chosen.setblocking(False)
    return chosen


def _not_a_unix_listener(sock: socket.socket) -> str:
    if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM:
        return f"is {sock.family.name}/{sock.type.name}; use ListenStream=/path/to.sock"
    if not sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN):
        return "is not listening (a connection from Accept=yes?); use Accept=no"
    return ""


def status_line(metrics: Metrics) -> str:
    """The ``STATUS=`` text ``systemctl status`` shows: live counts from the daemon's metrics."""

    def value(name: str, labels: dict[str, str] | None = None) -> int:
        return int(metrics.registry.get_sample_value(name, labels) or 0)

    rejected = sum(value("logmarket_frames_rejected_total", {"reason": r}) for r in REJECT_REASONS)
    return (
        f"{value('logmarket_connections')} connections, "
        f"{value('logmarket_records_stored_total')} records stored, "
        f"{value('logmarket_inbox_depth')} in inbox, "
        f"{rejected} frames rejected"
    )


class Notifier:
    """One daemon's channel to the service manager, read from the environment once.

    Every method is a no-op without ``$NOTIFY_SOCKET``. Send failures are logged (the first
    one, then every hundredth) and counted in ``failures``; they never raise.
    """

    def __init__(
        self, environ: Mapping[str, str] | None = None, *, status_interval: float = 5.0
    ) -> None:
        env = os.environ if environ is None else environ
        value = env.get("NOTIFY_SOCKET", "")
        self.address: bytes | None = _notify_address(value) if value else None
        self.watchdog: float | None = watchdog_interval(env) if value else None
        self.status_interval = status_interval
        self.failures = 0
        self.sent = 0

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *assignments: str) -> bool:
        """Send assignments; False when disabled or the send failed (logged and counted)."""
        if self.address is None:
            return False
        try:
            _send(self.address, assignments)
        except NotifyError as exc:
            self.failures += 1
            if self.failures % 100 == 1:
                log.warning("service manager notification failed", error=str(exc),
                            failures=self.failures)  # fmt: skip
            return False
        self.sent += 1
        return True

    def ready(self, status: str) -> bool:
        """Startup is complete: the socket accepts clients and HTTP answers."""
        extra = ("WATCHDOG=1",) if self.watchdog is not None else ()
        return self.send("READY=1", "STATUS=" + _one_line(status), *extra)

    def status(self, status: str) -> bool:
        return self.send("STATUS=" + _one_line(status))

    def stopping(self, status: str = "draining connections") -> bool:
        """Shutdown has begun; systemd then waits for the exit instead of the watchdog."""
        return self.send("STOPPING=1", "STATUS=" + _one_line(status))

    async def run(self, status: Callable[[], str]) -> None:
        """Until cancelled: ``WATCHDOG=1`` at half the watchdog interval, and ``STATUS=``
        from ``status()`` whenever it changed and ``status_interval`` has passed.

        Pings come from the event loop itself, so a loop blocked for longer than
        ``WatchdogSec`` stops them and systemd restarts the daemon: that is the point.
        """
        if self.address is None:
            return
        tick = self.status_interval
        if self.watchdog is not None:
            tick = min(tick, self.watchdog)
        last_text: str | None = None
        last_sent = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            items: list[str] = []
            if self.watchdog is not None:
                items.append("WATCHDOG=1")
            now = time.monotonic()
            if now - last_sent >= self.status_interval - 1e-3:
                text = _one_line(status())
                if text != last_text:
                    items.append("STATUS=" + text)
                    last_text = text
                last_sent = now
            if items:
                self.send(*items)


def _one_line(text: str) -> str:
    return " ".join(text.split())

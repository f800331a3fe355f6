"""``logmarket.Handler``: the one line an application adds to its logging configuration.

What it promises (the contract, see also README "Delivery guarantees"):

* ``emit()`` never blocks and never raises into the application. It snapshots the record
  into a bounded in-memory queue and returns. When the queue is full (daemon down for long,
  or far slower than the app), the new record is dropped and counted, and the count reaches
  the daemon with the next batch.
* A background thread (one per handler, started on first use) batches by size and time,
  sends, waits for acks, and resends unacknowledged batches after reconnecting with
  exponential backoff and jitter. Memory is bounded by ``capacity`` records in the queue
  plus ``max_in_flight`` batches awaiting an ack.
* ``flush(timeout)``, ``close()`` and interpreter exit (including the exit of a
  ``multiprocessing`` child) wait up to ``flush_timeout`` seconds for everything queued to
  be acknowledged; when the daemon is unreachable then, that is said once (a
  ``LogmarketWarning`` on stderr) before the wait. ``os._exit`` and SIGKILL lose what is not
  yet acknowledged.
* Neither does configuration: a wrong argument, dictConfig entry or environment variable is
  reported once (a ``LogmarketWarning``) and replaced by its default.
* Fork-safe: in a forked child the handler starts over with an empty queue, a new client id
  and secret, and no thread or lock inherited from the parent (the parent still sends what
  it queued).
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
import uuid
import weakref
from collections import deque
from typing import Any

from logmarket._options import (
    check_key,
    check_level,
    check_number,
    check_socket_path,
    check_source,
    check_sub_pkp,
    check_text,
    default_socket_path,
    report,
    setting,
)
from logmarket.errors import HelloRefusedError
from logmarket.protocol import _encoder
from logmarket.shipper import Backoff, Shipper

__all__ = ["Handler", "install"]

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}
_N_STANDARD = len(vars(logging.makeLogRecord({})))

# What structlog's stdlib integration adds to a record besides the event dict itself.
_STRUCTLOG_ATTRS = frozenset({"_logger", "_name", "_from_structlog", "_record"})

_live_handlers: weakref.WeakSet[Handler] = weakref.WeakSet()
_told_unreachable = False  # the daemon-down notice at exit is given once per process
_GRACE = 0.25  # seconds a closing handler waits before it says the daemon is unreachable


class Handler(logging.Handler):
    """Ship log records to the local ``logmarketd`` over its Unix socket.

    Every argument falls back to the environment (``LOGMARKET_SOCKET``, ``LOGMARKET_KEY``,
    ``LOGMARKET_SUB_PKP_ID``, ``LOGMARKET_SOURCE``), then to the defaults, so
    ``{"class": "logmarket.Handler"}`` alone is a complete ``dictConfig`` entry.

    ``key`` (``LOGMARKET_KEY``) is the Sub-PKP key (``logmarket keys create ID``) the records
    credit; without a valid one they are still analysed but credit no one. ``sub_pkp_id``
    alone credits nothing (it is sent, and the daemon ignores it when a key says otherwise).
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        socket_path: str | None = None,
        key: str | None = None,
        sub_pkp_id: str | None = None,
        source: str | None = None,
        stream: str | None = None,
        capacity: int = 100_000,
        batch_size: int = 1000,
        flush_interval: float = 0.2,
        flush_timeout: float = 5.0,
        max_in_flight: int = 8,
        **unknown: Any,
    ) -> None:
        # Nothing here may raise (a dictConfig entry with a typo must not stop the app, nor
        # leave a half-built handler for logging.shutdown to trip on at exit): every wrong
        # value is reported once and replaced by its default.
        super().__init__(check_level(level, "logmarket.Handler level", logging.NOTSET))
        if unknown:
            report(f"logmarket.Handler: unknown option(s) {', '.join(sorted(unknown))} ignored")
        path = None if socket_path is None else check_socket_path(socket_path, "socket_path")
        self.socket_path = path or default_socket_path()
        self.key = setting(key, "key", "LOGMARKET_KEY", check_key)
        self.sub_pkp_id = setting(sub_pkp_id, "sub_pkp_id", "LOGMARKET_SUB_PKP_ID", check_sub_pkp)
        self.source: str = setting(source, "source", "LOGMARKET_SOURCE", check_source) or "runtime"
        self.stream = check_text(stream, "stream", what="stream name")
        self.capacity = int(check_number(capacity, "capacity", 100_000, 1))
        self.batch_size = int(check_number(batch_size, "batch_size", 1000, 1))
        self.flush_interval = float(check_number(flush_interval, "flush_interval", 0.2, 0.001))
        self.flush_timeout = float(check_number(flush_timeout, "flush_timeout", 5.0, 0))
        self.max_in_flight = int(check_number(max_in_flight, "max_in_flight", 8, 1))
        self.internal_errors = 0
        self.last_internal_error: BaseException | None = None
        self._reset_state()
        _live_handlers.add(self)
        _register_fork_hook(self)

    # -- state that a forked child must not share -------------------------------------

    def _reset_state(self) -> None:
        self._queue: deque[_Snapshot] = deque()
        self._wake = threading.Event()
        self._progress = threading.Condition(threading.Lock())
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._waiters = 0
        self._pid = os.getpid()
        self.dropped = 0
        # The secret makes the id ours: another local process that learns the id cannot
        # take it over (the daemon keeps the secret's hash from our first hello).
        self.client_id = uuid.uuid4().hex
        self.client_secret = secrets.token_urlsafe(32)
        self._shipper: Shipper | None = None
        self._unreachable = False  # the last attempt to connect failed

    def _after_fork_in_child(self) -> None:
        # The parent's queue is the parent's to send; its thread and locks do not exist here.
        self._reset_state()

    # -- the application's side: cheap and never raising ------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self._thread is None:
                self._start()
            queue = self._queue
            if len(queue) >= self.capacity:
                self.dropped += 1
                return
            queue.append(self._snapshot(record))
            if len(queue) == self.batch_size:
                self._wake.set()
        except RecursionError:  # as logging.Handler does: a real bug, not a transport issue
            raise
        except Exception:
            self.handleError(record)

    def _snapshot(self, record: logging.LogRecord) -> _Snapshot:
        """Everything the record says, taken now (the app may change its objects later).

        A tuple, not a dict: cheaper to build on the app's thread and half the memory in the
        queue; the sender thread turns it into the wire's JSON object.
        """
        msg = record.msg
        event: dict[str, Any] | None = None
        if isinstance(msg, dict) and not record.args:
            # structlog through its stdlib integration (ProcessorFormatter.wrap_for_formatter)
            # hands over its whole event dict as the message.
            event = dict(msg)
            message = str(event["event"]) if "event" in event else str(msg)
        else:
            message = record.getMessage()
        exc = None
        if record.exc_info:
            exc = (self.formatter or _default_formatter).formatException(record.exc_info)
        elif record.exc_text:
            exc = record.exc_text
        extra = None
        attrs = record.__dict__
        if len(attrs) > _N_STANDARD:
            extra = {
                k: v
                for k, v in attrs.items()
                if k not in _STANDARD_ATTRS and not (event is not None and k in _STRUCTLOG_ATTRS)
            } or None
        return (
            record.created, record.levelname, record.levelno, record.name, message,
            record.pathname, record.lineno, record.funcName, record.thread, record.threadName,
            record.process, exc, record.stack_info, extra, event,
        )  # fmt: skip

    def flush(self, timeout: float | None = None) -> bool:  # type: ignore[override]
        """Wait until everything queued so far is acknowledged; False if ``timeout`` ran out."""
        return self._wait(self.flush_timeout if timeout is None else timeout)

    def _wait(self, timeout: float) -> bool:
        """Wake the sender and wait up to ``timeout`` for it to drain. A daemon that is down
        may be restarting (systemd restarts it within a second): while someone waits, the
        sender retries every 0.1 s instead of backing off."""
        thread = self._thread
        if thread is None or not thread.is_alive() or self._pid != os.getpid():
            return self._drained()
        deadline = time.monotonic() + timeout
        with self._progress:
            self._waiters += 1
            try:
                self._wake.set()
                self._progress.wait_for(self._drained, max(0.0, deadline - time.monotonic()))
            finally:
                self._waiters -= 1
        return self._drained()

    def close(self) -> None:
        try:
            self._shutdown(self.flush_timeout)
        except Exception as exc:  # close runs at exit too: count it, never raise there
            self.internal_errors += 1
            self.last_internal_error = exc
        finally:
            _live_handlers.discard(self)
            super().close()

    def _shutdown(self, timeout: float) -> None:
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        deadline = time.monotonic() + timeout
        if not self._wait(min(timeout, _GRACE)):
            self._say_unreachable(timeout)
            self._wait(max(0.0, deadline - time.monotonic()))
        self._stopping = True
        self._wake.set()
        thread.join(timeout=1.0)

    def _say_unreachable(self, timeout: float) -> None:
        """The daemon is down while records wait: say so (once a process) before the pause,
        so a script's slow exit is explained."""
        global _told_unreachable
        shipper = self._shipper
        if _told_unreachable or shipper is None or not self._unreachable or self._drained():
            return
        _told_unreachable = True
        waiting = len(self._queue) + sum(shipper.unacked_records.values())
        report(
            f"logmarket: the daemon at {self.socket_path} is unreachable; waiting up to "
            f"{timeout:g} s (flush_timeout) for {waiting} records to be acknowledged, then "
            "exiting without them"
        )

    def _drained(self) -> bool:
        shipper = self._shipper
        return not self._queue and (shipper is None or shipper.in_flight == 0)

    # -- the background thread ---------------------------------------------------------

    def _start(self) -> None:
        with self._progress:
            if self._thread is not None:
                return
            self._shipper = Shipper(
                self.socket_path,
                {
                    "clientId": self.client_id,
                    "clientSecret": self.client_secret,
                    "key": self.key,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                    "source": self.source,
                    "subPKPId": self.sub_pkp_id,
                    "stream": self.stream,
                },
            )
            thread = threading.Thread(target=self._run, name="logmarket-handler", daemon=True)
            self._thread = thread
            thread.start()

    def _run(self) -> None:
        shipper = self._shipper
        assert shipper is not None
        backoff = Backoff()
        retry_at = 0.0
        while True:
            try:
                if not shipper.connected:
                    if self._stopping:
                        return
                    if time.monotonic() < retry_at:
                        self._wake.wait(min(self.flush_interval, retry_at - time.monotonic()))
                        self._wake.clear()
                        continue
                    try:
                        shipper.connect(dropped=self.dropped)
                        backoff.reset()
                        self._unreachable = False
                    except OSError:
                        self._unreachable = True
                        retry_at = time.monotonic() + self._retry_delay(backoff)
                        continue
                    except HelloRefusedError as exc:
                        # Not a bug of ours and not transient by itself: say it once, retry.
                        report(f"logmarket: {exc} (socket {self.socket_path})")
                        retry_at = time.monotonic() + self._retry_delay(backoff)
                        continue
                self._pump(shipper)
            except OSError:
                shipper.disconnect()
                retry_at = time.monotonic() + self._retry_delay(backoff)
            except Exception as exc:  # a bug of ours: count it, never die silently
                self.internal_errors += 1
                self.last_internal_error = exc
                shipper.disconnect()
                retry_at = time.monotonic() + self._retry_delay(backoff)
            finally:
                with self._progress:
                    self._progress.notify_all()
            if self._stopping and self._drained():
                shipper.disconnect()
                return

    def _retry_delay(self, backoff: Backoff) -> float:
        delay = backoff.next_delay()
        return min(delay, 0.1) if self._waiters else delay

    def _pump(self, shipper: Shipper) -> None:
        """One round: send what is queued (window permitting), then collect acks or idle."""
        queue = self._queue
        while queue and shipper.in_flight < self.max_in_flight:
            take = min(len(queue), self.batch_size)
            limit = shipper.max_frame_bytes // 2
            encoded: list[str] = []
            while take > 0:
                chunk = min(take, _GIL_CHUNK)
                encoded.extend(_encode_record(queue.popleft(), limit) for _ in range(chunk))
                take -= chunk
                # Let the application's threads in: without this the sender keeps the GIL
                # for a whole batch and a logging call waits out the 5 ms switch interval.
                time.sleep(0)
            seqs = [shipper.enqueue(g, self.dropped) for g in shipper.frames_for(encoded)]
            for seq in seqs:
                shipper.transmit(seq)  # a failure here leaves them in the window: resent
        if shipper.in_flight:
            busy = bool(queue) and shipper.in_flight < self.max_in_flight
            shipper.poll_acks(0.0 if busy else 0.05)
        elif not queue and not self._stopping:
            self._wake.wait(self.flush_interval)
            self._wake.clear()


_GIL_CHUNK = 64  # records encoded between two GIL releases (~0.2 ms of work)

_FIELDS = (
    "ts", "level", "levelno", "logger", "message", "file", "line", "func", "thread",
    "threadName", "process", "exc", "stack", "extra", "event",
)  # fmt: skip
_Snapshot = tuple[Any, ...]


def _encode_record(snap: _Snapshot, limit: int) -> str:
    obj = {k: v for k, v in zip(_FIELDS, snap, strict=True) if v is not None}
    text = _encoder.encode(obj)
    if len(text) <= limit:
        return text
    # One record must always fit in a frame: cut the bulky fields and say so.
    for key in ("extra", "event", "stack", "exc", "message"):
        value = obj.get(key)
        if value is None:
            continue
        text_value = value if isinstance(value, str) else _encoder.encode(value)
        obj[key] = text_value[: max(0, limit // 4)]
        obj["truncated"] = True
        text = _encoder.encode(obj)
        if len(text) <= limit:
            break
    return text


_default_formatter = logging.Formatter()


def _register_fork_hook(handler: Handler) -> None:
    # register_at_fork cannot be undone, so it holds the handler weakly (as sentry-python).
    ref = weakref.WeakMethod(handler._after_fork_in_child)

    def hook() -> None:
        method = ref()
        if method is not None:
            method()

    os.register_at_fork(after_in_child=hook)


def _flush_all_at_exit() -> None:
    for handler in list(_live_handlers):
        if handler._pid == os.getpid():
            try:
                handler._shutdown(handler.flush_timeout)
            except Exception as exc:  # the interpreter is exiting: count it, never raise
                handler.internal_errors += 1
                handler.last_internal_error = exc


# threading's exit hooks run before non-daemon threads are joined, both at interpreter exit
# and when a multiprocessing child finishes (which skips ``atexit``): one hook covers both.
# It is the hook concurrent.futures uses; fall back to atexit if it ever goes away.
_register_thread_atexit = getattr(threading, "_register_atexit", None)
if _register_thread_atexit is not None:
    _register_thread_atexit(_flush_all_at_exit)
else:  # pragma: no cover
    import atexit

    atexit.register(_flush_all_at_exit)


def install(
    logger: logging.Logger | str | None = None, level: int | str = logging.INFO, **kwargs: Any
) -> Handler:
    """Attach a :class:`Handler` to ``logger`` (the root logger by default) and return it.

    Calling it again returns the handler already installed rather than adding a second. Like
    the handler, it never raises: a wrong ``logger`` or ``level`` is reported and defaulted.
    """
    if isinstance(logger, logging.Logger):
        target = logger
    else:
        if logger is not None and not isinstance(logger, str):
            report(f"logmarket.install: logger={logger!r} is not a logger or a name; using root")
            logger = None
        target = logging.getLogger(logger)
    for existing in target.handlers:
        if isinstance(existing, Handler):
            return existing
    handler = Handler(**kwargs)
    target.addHandler(handler)
    wanted = check_level(level, "logmarket.install level", logging.INFO)
    if target.level == logging.NOTSET or target.level > wanted:
        target.setLevel(wanted)
    return handler

"""``logmarket send``: ship lines from a file or stdin to the daemon, acknowledged. The last
line carries ``"eof": true``, so the daemon closes its window and analyses the file at once
instead of ``--window-seconds`` later (``--keep-open``: leave the window open)."""

from __future__ import annotations

import argparse
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import Any

from logmarket.commands._files import open_input
from logmarket.errors import CommandError, HelloRefusedError
from logmarket.protocol import SOURCES, _encoder
from logmarket.shipper import Backoff, Shipper, default_socket_path


def register(sub: Any) -> None:
    p = sub.add_parser("send", help="send lines (file or -) to the daemon and wait for acks")
    p.add_argument("path", help="file to read, or - for standard input")
    p.add_argument("--socket", default=None, help="daemon socket [env: LOGMARKET_SOCKET]")
    p.add_argument("--source", choices=SOURCES, default="runtime")
    p.add_argument("--sub-pkp", default=None, help="Sub-PKP id the lines are logged for")
    p.add_argument("--key", default=os.environ.get("LOGMARKET_KEY") or None,
                   help="Sub-PKP key the lines credit (without one they credit no one)"
                   " [env: LOGMARKET_KEY]")  # fmt: skip
    p.add_argument("--batch", type=int, default=1000, help="records per batch")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the daemon")
    p.add_argument("--keep-open", action="store_true",
                   help="do not end the window with the last line (more lines follow later)")  # fmt: skip
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    stream = open_input(args.path)
    path = args.socket or default_socket_path()
    shipper = Shipper(
        path,
        {"host": socket.gethostname(), "source": args.source, "subPKPId": args.sub_pkp,
         "key": args.key},
    )  # fmt: skip
    deadline = time.monotonic() + args.timeout
    backoff = Backoff()
    sent = 0
    with stream:
        batch: list[str] = []
        lines = _with_last(stream)
        done = False
        while not done or batch or shipper.in_flight:
            try:
                if not shipper.connected:
                    shipper.connect()
                    backoff.reset()
                while not done and len(batch) < args.batch:
                    item = next(lines, None)
                    if item is None:
                        done = True
                        break
                    batch.append(_record(*item, eof=item[1] and not args.keep_open))
                if batch:
                    for group in shipper.frames_for(batch):
                        shipper.send(group)
                    sent += len(batch)
                    batch = []
                while shipper.in_flight >= 8 or (done and shipper.in_flight):
                    shipper.poll_acks(1.0)
                    if time.monotonic() > deadline:
                        raise TimeoutError
                deadline = time.monotonic() + args.timeout
            except TimeoutError:
                raise CommandError(
                    f"the daemon at {path} acknowledged nothing within {args.timeout:g} s "
                    f"({sent} lines sent); see its log, or raise --timeout"
                ) from None
            except HelloRefusedError as exc:
                raise CommandError(f"{exc} (socket {path})") from None
            except OSError as exc:
                shipper.disconnect()
                if time.monotonic() > deadline:
                    raise CommandError(
                        f"cannot reach the daemon at {path} within {args.timeout:g} s "
                        f"({exc.strerror or exc}); start it with `make run` in the repository "
                        "(or `logmarketd`), or point --socket / LOGMARKET_SOCKET at its socket"
                    ) from None
                time.sleep(backoff.next_delay())
    closed = "" if args.keep_open or not sent else "; the last one ends the window: analysed now"
    print(f"sent {sent} lines{closed}", file=sys.stderr)
    return 0


def _record(raw: bytes, last: bool, *, eof: bool) -> str:
    """One line as an encoded record; the last one ends its window when ``eof``."""
    record: dict[str, Any] = {"message": raw.decode("utf-8", "replace").rstrip("\r\n"),
                              "ts": time.time()}  # fmt: skip
    if eof:
        record["eof"] = True
    return _encoder.encode(record)


def _with_last(stream: Iterable[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Each line with whether it is the last one."""
    it = iter(stream)
    prev = next(it, None)
    for line in it:
        yield prev, False  # type: ignore[misc]
        prev = line
    if prev is not None:
        yield prev, True

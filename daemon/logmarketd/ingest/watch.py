"""``--watch``: the daemon tails files itself, in a thread, into its own socket.

The tailer is the client's (``logmarket.tail``): it speaks the wire protocol to the daemon's
Unix socket like any other client, so a watched line takes exactly the path an application's
line takes (validation, durable inbox, dedup by client id and seq). Its checkpoint lives in
the state directory, so a restarted daemon resumes every file where its store stands.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

import structlog

from logmarket.tail import DEFAULT_EXCLUDE, TailConfig, Tailer, parse_rule

__all__ = ["WatchHandle", "start_watchers"]

log = structlog.get_logger("logmarketd.watch")

CHECKPOINT_NAME = "tail-checkpoint.json"


class WatchHandle:
    """A running tailer thread; :meth:`stop` ends it (waiting for in-flight acks)."""

    def __init__(self, tailer: Tailer) -> None:
        self.tailer = tailer
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="logmarketd-watch", daemon=True)

    def _run(self) -> None:
        try:
            self.tailer.run()
        except Exception as exc:  # logged and kept: the daemon itself lives on
            self.error = exc
            log.error("file watcher stopped", error=str(exc))

    def start(self, ready_timeout: float = 10.0) -> WatchHandle:
        self._thread.start()
        self.tailer.ready.wait(ready_timeout)
        return self

    @property
    def stats(self) -> dict[str, int]:
        return dict(self.tailer.stats)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop reading, wait up to ``timeout`` s for in-flight batches, save the checkpoint."""
        self.tailer.stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("file watcher did not stop in time")


def start_watchers(
    paths: Sequence[str],
    socket_path: str | os.PathLike[str],
    state_dir: str | os.PathLike[str],
    *,
    from_beginning: bool = False,
    include: Sequence[str] = (),
    exclude: Sequence[str] | None = None,
    rules: Sequence[str] = (),
    sub_pkp_id: str | None = None,
    key: str | None = None,
    poll: bool = False,
    poll_interval: float = 1.0,
    start_pattern: str | None = None,
    multiline: bool = True,
    flush_timeout: float = 1.0,
) -> WatchHandle:
    """Start tailing ``paths`` (files, directories, globs) into the daemon at ``socket_path``.

    ``rules`` are ``GLOB=SOURCE[,SUBPKP]`` strings; ``key`` is the Sub-PKP key the lines
    credit (none: they are analysed and credit no one). Raises ``TailError`` (a ``ValueError``)
    for an unusable path, glob, rule or pattern - before any thread starts.
    """
    config = TailConfig(
        paths=list(paths),
        socket_path=os.fspath(socket_path),
        checkpoint_path=os.fspath(Path(state_dir) / CHECKPOINT_NAME),
        from_beginning=from_beginning,
        include=tuple(include),
        exclude=tuple(exclude) if exclude is not None else DEFAULT_EXCLUDE,
        rules=tuple(parse_rule(r) for r in rules),
        sub_pkp_id=sub_pkp_id,
        key=key,
        mode="poll" if poll else "auto",
        poll_interval=poll_interval,
        start_pattern=start_pattern,
        multiline=multiline,
        flush_timeout=flush_timeout,
    )
    tailer = Tailer(config)
    tailer.on_status = _status
    handle = WatchHandle(tailer).start()
    log.info("watching", paths=list(paths), events=handle.tailer.using_events)
    return handle


def _status(event: str, detail: str) -> None:
    if event == "unreachable":
        log.warning("file watcher cannot reach the daemon's own socket; retrying", error=detail)
    else:
        log.info("file watcher reconnected to the daemon's socket")

"""When to look: file-system events from watchdog (inotify), or nothing and a polling timer.

``watchdog`` is imported here only, when events are wanted: the client package stays
standard-library only at import time, and without watchdog (or on a network or overlay file
system where inotify sees nothing, ``mode="poll"``) the tailer polls every ``poll_interval``.
Even with events, the tailer rescans now and then: inotify queues overflow and events get
lost, and a scan finds what was missed.
"""

from __future__ import annotations

import os
import threading
from typing import Any

__all__ = ["Events", "watchdog_available"]


def watchdog_available() -> bool:
    """Whether watchdog can be imported (the ``tail`` extra is installed)."""
    try:
        import watchdog.observers  # noqa: F401
    except ImportError:
        return False
    return True


class Events:
    """Collects changed paths from watchdog; :meth:`take` hands them to the tailer's loop.

    ``wake`` is set on every event so the loop can sleep until something happens.
    """

    def __init__(self, roots: list[tuple[str, bool]], wake: threading.Event) -> None:
        self.roots = roots
        self.wake = wake
        self._lock = threading.Lock()
        self._paths: set[str] = set()
        self._structure = False
        self._observer: Any = None
        self._scheduled: set[str] = set()
        self.overflows = 0

    def start(self) -> None:
        from watchdog.events import (
            DirCreatedEvent,
            DirDeletedEvent,
            DirMovedEvent,
            FileClosedEvent,
            FileCreatedEvent,
            FileDeletedEvent,
            FileModifiedEvent,
            FileMovedEvent,
            FileSystemEvent,
            FileSystemEventHandler,
        )
        from watchdog.observers import Observer

        events = self

        class _Handler(FileSystemEventHandler):
            def on_any_event(self, event: FileSystemEvent) -> None:
                events._on_event(
                    event.event_type, _text(event.src_path), _text(getattr(event, "dest_path", ""))
                )

        self._handler = _Handler()
        # Only what changes content or names: our own opens and reads must not wake us.
        self._filter = [
            FileModifiedEvent, FileCreatedEvent, FileDeletedEvent, FileMovedEvent,
            FileClosedEvent, DirCreatedEvent, DirDeletedEvent, DirMovedEvent,
        ]  # fmt: skip
        self._observer = Observer()
        self.schedule_missing()
        self._observer.start()

    def schedule_missing(self) -> bool:
        """Watch the roots that exist now and were not watched yet; True if any is missing."""
        if self._observer is None:
            return False
        missing = False
        for root, recursive in self.roots:
            if root in self._scheduled:
                continue
            if not os.path.isdir(root):
                missing = True
                continue
            try:
                self._observer.schedule(
                    self._handler, root, recursive=recursive, event_filter=self._filter
                )
            except OSError:
                missing = True  # vanished in between, or out of inotify watches: poll it
                continue
            self._scheduled.add(root)
        return missing

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def take(self) -> tuple[set[str], bool]:
        """The paths modified since the last call, and whether names changed (rescan)."""
        with self._lock:
            paths, structure = self._paths, self._structure
            self._paths, self._structure = set(), False
        return paths, structure

    def _on_event(self, kind: str, src: str, dest: str) -> None:
        with self._lock:
            if kind in ("modified", "closed"):
                self._paths.add(src)
            else:
                self._structure = True
                self._paths.add(src)
                if dest:
                    self._paths.add(dest)
        self.wake.set()


def _text(path: str | bytes) -> str:
    return os.fsdecode(path)

"""The tailer's loop: find files, read what is new, ship it, advance offsets on acks.

One thread does everything, in this order each turn: (re)connect; take acks (offsets move
only here); take file events or scan; read dirty files into batches while the window of
unacknowledged batches has room; write the batches' intents to the checkpoint (durably),
then send them; sleep until an event, an ack, or a timer. When the daemon is slow or gone the
window stays full and nothing is read: memory stays bounded, files wait on disk.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from logmarket.shipper import Shipper
from logmarket.tail.batcher import Batch, Builder
from logmarket.tail.checkpoint import Checkpoint, CheckpointStore, Intent
from logmarket.tail.config import TailConfig
from logmarket.tail.discover import Finder, parse_target
from logmarket.tail.errors import TargetError
from logmarket.tail.events import Events, watchdog_available
from logmarket.tail.files import MORE, TRUNCATED, TrackedFile
from logmarket.tail.identity import FP_BYTES
from logmarket.tail.lines import INVALID, PARTIAL, SPLIT, Line
from logmarket.tail.link import Link, Status, hello_for, raise_nofile
from logmarket.tail.multiline import Assembler
from logmarket.tail.order import (
    by_stream,
    newer_rotated,
    older_unread,
    outdated_originals,
    read_order,
)
from logmarket.tail.recovery import rebuild_window
from logmarket.tail.restart import order_by_age, settle, snapshot
from logmarket.tail.rules import Rules
from logmarket.tail.tracker import Tracker

__all__ = ["Tailer"]

log = logging.getLogger("logmarket.tail")

_SCAN_TRIES = 4  # scans in a row while names move under them (a rotation in progress)
_RESTART_TRIES = 5  # restart scans, when a rotation moved files during one
_FRAME_OVERHEAD = 128  # bytes of a batch frame around its records
_FLAG_STATS = (
    (INVALID, "records_invalid_utf8"),
    (SPLIT, "records_split"),
    (PARTIAL, "records_partial"),
)
# What became of a dirty file in a turn (see Tailer._turn).
_Turn = Literal["read", "wait", "restream"]


class Tailer:
    """Tails files into the daemon; :meth:`run` blocks until :meth:`stop` is called."""

    def __init__(self, config: TailConfig) -> None:
        self.cfg = config
        self.stats: Counter[str] = Counter()
        self.rules = Rules(
            config.rules,
            include=config.include,
            exclude=config.exclude,
            default_sub_pkp_id=config.sub_pkp_id,
        )
        self.finder = Finder([parse_target(p) for p in config.paths], self.rules)
        if config.start_pattern is not None:
            try:
                re.compile(config.start_pattern)
            except re.error as exc:
                raise TargetError(f"start pattern {config.start_pattern!r}: {exc}") from exc
        if config.mode not in ("auto", "events", "poll"):
            raise TargetError(f"mode must be auto, events or poll, not {config.mode!r}")
        self.store = CheckpointStore(config.checkpoint_path)
        # The files there at the very first start, with their sizes: only these follow
        # ``from_beginning`` - one created after this moment is read from its start, even
        # when the first scan (later: the checkpoint, events, ...) is the first to see it.
        self._initial: dict[tuple[int, int], int] = {}
        if not os.path.exists(self.store.path):
            self._initial = {
                (st.st_dev, st.st_ino): st.st_size for st in self.finder.scan().values()
            }
        self.wake = threading.Event()
        self.ready = threading.Event()  # set once the first scan is done
        self.using_events = False
        self._stop = threading.Event()
        self._dirty: set[str] = set()
        self._timers: set[str] = set()
        self._replaced: list[TrackedFile] = []
        self._later: set[str] = set()  # waiting for an older file of their stream
        self._reorder = False  # after a restart: rank each log's files by age, once
        self._ckpt_dirty = False
        self._last_save = 0.0
        # Told when the daemon cannot be reached, and when it is back (see tail.link).
        self.on_status: Status | None = None

    def stop(self) -> None:
        """Ask :meth:`run` to finish (it waits for in-flight acks up to ``drain_timeout``)."""
        self._stop.set()
        self.wake.set()

    def _assembler(self) -> Assembler:
        c = self.cfg
        return Assembler(
            c.start_pattern,
            enabled=c.multiline,
            max_lines=c.max_event_lines,
            max_bytes=c.max_event_bytes,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def run(self) -> None:
        """Tail until stopped. Raises ``CheckpointError`` if the checkpoint is unreadable."""
        events: Events | None = None
        if self.cfg.mode == "events" or (self.cfg.mode == "auto" and watchdog_available()):
            events = Events(self.finder.roots, self.wake)
            events.start()
            self.using_events = True
        try:
            if not self._recover():
                self._scan(start_at_end=not self.cfg.from_beginning)
            self._save(time.monotonic())
            self.ready.set()
            self._loop(events)
            self._drain()
        finally:
            if events is not None:
                events.stop()
            self.shipper.disconnect()
            for tf in self.tracker.files.values():
                tf.close()

    def _recover(self) -> bool:
        """Open the checkpoint and, if there was one, find again what it left unfinished -
        while no rotation moves the files, else again (see ``tail.restart``). Nothing is
        saved until this is done, so a try that is thrown away leaves no trace."""
        for _ in range(_RESTART_TRIES):
            before = settle(self.finder.roots) if os.path.exists(self.store.path) else {}
            if not self._open():
                return False
            self._restart_scan()
            if snapshot(self.finder.roots) == before:
                break
            self.stats["restart_scans_repeated"] += 1
            log.debug("files moved during the restart scan: scanning again")
            for tf in self.tracker.files.values():
                tf.close()
            self._dirty, self._replaced, self._later = set(), [], set()
        return True

    def _open(self) -> bool:
        """Load the checkpoint, rebuild its window; True if there was a checkpoint."""
        loaded = self.store.load()
        self.ckpt = loaded or Checkpoint()
        self.tracker = Tracker(
            self.ckpt, self.rules, self._assembler, self.stats, roots=self.finder.roots,
            spool_dir=os.path.dirname(self.store.path),
        )  # fmt: skip
        raise_nofile()
        hello = hello_for(self.ckpt, self.cfg.host, self.cfg.extra_hello, self.cfg.key)
        self.shipper = Shipper(self.cfg.socket_path, hello, on_ack=self._on_ack)
        self.link = Link(self.shipper, self.stats, self.on_status)
        self.shipper.next_seq = self.ckpt.next_seq
        rebuild_window(
            self.ckpt, self.tracker, self.shipper, self._assembler, self.cfg.max_line_bytes,
            self.stats,
        )  # fmt: skip
        return loaded is not None

    def _loop(self, events: Events | None) -> None:
        cfg = self.cfg
        interval = cfg.rescan_interval if events is not None else cfg.poll_interval
        next_scan = time.monotonic() + interval
        while not self._stop.is_set():
            now = time.monotonic()
            connected = self._connect(now)
            if connected and self.shipper.in_flight:
                self._poll(0.0)
            structure = False
            if events is not None:
                paths, structure = events.take()
                for p in paths:
                    fid = self.tracker.by_path.get(p)
                    if fid is not None:
                        self._dirty.add(fid)
                    else:
                        structure = True
            if structure or now >= next_scan:
                if events is not None and events.schedule_missing():
                    interval = min(cfg.rescan_interval, cfg.poll_interval)
                self._scan(start_at_end=False)
                # After a change of names, look again soon: files created in a new
                # directory before its inotify watch was in place raise no event.
                next_scan = now + (min(interval, 0.25) if structure else interval)
            timeout = next_scan - now
            for fid in list(self._timers):
                tf = self.tracker.files.get(fid)
                if tf is None:
                    self._timers.discard(fid)
                    continue
                wait = cfg.linger if tf.gone else cfg.flush_timeout
                deadline = tf.last_growth + wait
                if tf.gone and events is not None:
                    deadline = min(deadline, now + cfg.poll_interval)
                if deadline <= now or not events:
                    self._timers.discard(fid)
                    self._dirty.add(fid)
                else:
                    timeout = min(timeout, deadline - now)
            if self._later:
                self._dirty |= self._later
                self._later.clear()
                timeout = min(timeout, 0.02)
            self._fingerprint()
            room = self.shipper.in_flight <= cfg.max_in_flight // 2
            if connected and room and (self._dirty or self._replaced) and self._ship(now):
                continue
            if self._ckpt_dirty and now - self._last_save >= cfg.checkpoint_interval:
                self._save(now)
            if not connected:
                timeout = min(timeout, max(0.0, self.link.next_connect - now))
            elif self._dirty and room:
                timeout = 0.0
            timeout = max(0.0, min(timeout, 1.0))
            if connected and self.shipper.in_flight:
                self._poll(min(timeout, 0.05))
            else:
                self.wake.wait(timeout)
                self.wake.clear()

    def _fingerprint(self) -> None:
        """Fingerprint files that changed and are still known by fewer than FP_BYTES first
        bytes, read or not: one that was empty when found and is copied and truncated
        before its turn comes (the daemon gone, the window full) must still be seen to have
        been replaced - else its rotated copy, under a name no target matches, is never
        looked for, and what it held is lost."""
        for fid in self._dirty:
            tf = self.tracker.files.get(fid)
            if tf is not None and tf.mark.head_len < FP_BYTES and tf.mark.twin_of is None:
                tf.refresh_head()

    def _drain(self) -> None:
        deadline = time.monotonic() + self.cfg.drain_timeout
        while self.shipper.in_flight and time.monotonic() < deadline:
            if self._connect(time.monotonic()):
                self._poll(0.05)
            else:
                time.sleep(0.05)
        self._save(time.monotonic())

    # -- the daemon ---------------------------------------------------------------------------

    def _connect(self, now: float) -> bool:
        return self.link.connect(now)

    def _poll(self, timeout: float) -> None:
        self.link.poll(timeout)

    def _on_ack(self, seq: int) -> None:
        intent = self.ckpt.intents.pop(seq, None)
        if intent is None:
            return
        files = self.tracker.files
        for fid, _start, end in intent.segments:
            tf = files.get(fid)
            if tf is None:
                continue
            if end > tf.mark.offset:
                tf.mark.offset = end
            tf.inflight -= 1
            if tf.inflight == 0 and (tf.retired or (tf.gone and tf.fd is None)):
                self.tracker.drop(tf)
        self.stats["batches_acked"] += 1
        self._ckpt_dirty = True

    # -- files ------------------------------------------------------------------------------------

    def _scan(self, *, start_at_end: bool = False, since: float | None = None) -> None:
        """Match the tracked files to the disk. ``start_at_end``: the very first start (the
        files there when the tailer was made are read from the size they had then).
        ``since``: after a restart, when the checkpoint was saved."""
        initial = self._initial if start_at_end else {}
        for _ in range(_SCAN_TRIES):
            found = self.finder.scan()
            dirty, replaced = self.tracker.reconcile(
                found, start_at_end=initial, now=time.monotonic(), since=since
            )
            self._dirty |= dirty
            self._replaced.extend(t for t in replaced if t not in self._replaced)
            self.stats["scans"] += 1
            if dirty or replaced:
                self._ckpt_dirty = True
            if not self.tracker.moved:
                break
            # A file left its name between the scan and its opening: scan again now, so
            # that it is found (where it went) before anything newer is read.

    def _restart_scan(self) -> None:
        """The first scan after a restart: find everything unfinished and everything written
        while down (any name in the watched directories), retire what was replaced, then
        put each log's files in the order their content was written."""
        self._scan(since=self.ckpt.saved_at)
        # Files renamed away first: one whose inode now holds other content (freed while we
        # were down, taken by logrotate's next copy) becomes a new, unread file - which may
        # be the copy another replaced file's unread rest is to be read from.
        self._replaced.sort(key=lambda t: not t.gone)
        self._reorder = True  # once the first turn has retired what was replaced

    def _ship(self, now: float) -> bool:
        """Read dirty files into batches and send them; True if anything was sent."""
        cfg = self.cfg
        slots = cfg.max_in_flight - self.shipper.in_flight
        builder = Builder(
            cfg.batch_records, self.shipper.max_frame_bytes - _FRAME_OVERHEAD, max(1, slots)
        )
        wall = time.time()
        # A held copy whose original was truncated since holds the older lines: retire the
        # original first (the copy takes its place), whatever is read this turn.
        self._replaced.extend(
            t for t in outdated_originals(self.tracker.files) if t not in self._replaced
        )
        self._retire_replaced(builder, wall)
        if self._reorder:
            order_by_age(self.tracker.files.values(), float(self.ckpt.next_file))
            self._reorder = False
        self._read_dirty(builder, now, wall)
        batches = builder.take()
        if not batches:
            return False
        self._send(batches, now)
        return True

    def _retire_replaced(self, builder: Builder, wall: float) -> None:
        """Retire every file whose content was replaced, in the order they were found."""
        while self._replaced:
            self._retire(self._replaced.pop(0), builder, wall)

    def _read_dirty(self, builder: Builder, now: float, wall: float) -> None:
        """Read the dirty files into ``builder`` while it has room; a file not read (no room,
        its turn not come) stays dirty, waits for a timer or for an older file."""
        # Oldest first, and a file waits while an older one of its stream (a rotated
        # generation, a copy) has unread bytes: one log's lines reach the daemon in order.
        files = self.tracker.files
        order = sorted(self._dirty, key=lambda f: read_order(files, f))
        self._dirty.clear()
        streams = by_stream(files.values())
        for fid in order:
            tf = files.get(fid)
            if tf is None or tf.fd is None or tf.retired or tf.mark.twin_of is not None:
                continue
            room = builder.room
            if room <= 0:
                self._dirty.add(fid)
                continue
            turn = self._turn(tf, streams.get(tf.mark.stream, ()), now, builder, wall)
            if turn == "read":
                turn = self._read(tf, room, builder, now, wall)
            if turn == "restream":
                # A copy now carries older lines of a stream: newer files of that stream
                # still to come in this turn must wait for it.
                streams = by_stream(files.values())

    def _turn(
        self,
        tf: TrackedFile,
        same: Sequence[TrackedFile],
        now: float,
        builder: Builder,
        wall: float,
    ) -> _Turn:
        """Whether ``tf`` (one of the files ``same`` of its stream) is read now: "read";
        "wait" (for an older file of its stream, a timer or growth; it is set to come back);
        "restream" (it is a copy of a truncated original, which is retired now: the copy
        joins the stream, with the rest of the original's lines)."""
        fid = tf.id
        if tf.pos == 0 and tf.mark.path == tf.mark.stream and newer_rotated(tf, same):
            # Nothing read yet at the live path, yet rotated generations ranked after
            # it are waiting: they were rotated out of this path before what it holds
            # now was written (its old content went unseen), so they go first.
            tf.mark.rank = max(t.mark.rank for t in same) + 0.1
            self._later.add(fid)
            return "wait"
        if older_unread(tf, same):
            # Not read yet, but fingerprinted now: if its content is replaced before
            # its turn comes, the read will know (and look for the rotated copy).
            tf.refresh_head()
            self._later.add(fid)
            return "wait"
        if not tf.fresh:
            return "read"
        verdict = self.tracker.classify(tf, now, self._replaced)
        if verdict == "wait" and now - tf.last_growth < self.cfg.flush_timeout:
            self._timers.add(fid)
            return "wait"
        if verdict == "empty":
            return "wait"  # read when it grows (its change makes it dirty again)
        if verdict == "twin":
            self._ckpt_dirty = True
            # Its original was truncated: take the rest from this copy before any
            # newer file of the stream is read (they wait for it).
            self._retire_replaced(builder, wall)
            return "restream"
        tf.fresh = False
        return "read"

    def _read(self, tf: TrackedFile, room: int, builder: Builder, now: float, wall: float) -> _Turn:
        """Read up to ``room`` records of ``tf`` into ``builder`` and set it to come back
        (dirty, on a timer) or close it. "restream" if it was found truncated (it is retired:
        the copy carrying its unread rest joins the stream), else "read"."""
        cfg = self.cfg
        records: list[Line] = []
        # A file moved away from its path (rotated) has a successor: its writer moved on,
        # so its last event is complete at its end - and must go before the successor's.
        rotated = tf.gone or tf.mark.path != tf.mark.stream
        flush_after = 0.0 if rotated else cfg.flush_timeout
        status = tf.read(
            now, cfg.read_chunk, cfg.max_line_bytes, flush_after, records, max_lines=room
        )
        if status == TRUNCATED:
            self._retire(tf, builder, wall)
            return "restream"
        builder.add(tf, records, wall)
        self._count_read(records)
        if status == MORE:
            self._dirty.add(tf.id)
        elif tf.gone and tf.pos >= tf.size and not tf.assembler.pending:
            self._close_gone(tf, now)
        elif tf.waiting or tf.gone:
            self._timers.add(tf.id)
        return "read"

    def _count_read(self, records: list[Line]) -> None:
        self.stats["records_read"] += len(records)
        for _text, _end, flags in records:
            if flags:  # counted by kind: invalid UTF-8, split, partial
                for bit, name in _FLAG_STATS:
                    if flags & bit:
                        self.stats[name] += 1

    def _send(self, batches: list[Batch], now: float) -> None:
        """Write the batches' intents to the checkpoint (durably), then send them."""
        first = self.shipper.next_seq
        for i, b in enumerate(batches):
            self.ckpt.intents[first + i] = Intent(first + i, b.segments)
        self.ckpt.next_seq = first + len(batches)
        if log.isEnabledFor(logging.DEBUG):
            for i, b in enumerate(batches):
                log.debug("batch %d: %s", first + i, b.segments)
        # The intents are durable before any of their batches can reach the daemon.
        self._save(now)
        for b in batches:
            # Every batch joins the window, sent or not: after a failure the rest wait there
            # (send raises without writing) and go out on reconnect.
            try:
                self.shipper.send(b.records)
            except OSError:
                if self.shipper.connected:
                    self.shipper.disconnect()
                    self.stats["disconnects"] += 1
                continue
            self.stats["batches_sent"] += 1
            self.stats["records_sent"] += len(b.records)

    def _retire(self, tf: TrackedFile, builder: Builder, wall: float) -> None:
        """Content replaced: send what the old generation holds, then go on from 0."""
        if tf.retired:
            return
        records: list[Line] = []
        tf.assembler.flush(records)
        builder.add(tf, records, wall)
        carrier = self.tracker.replace(tf)
        if carrier is not None:
            self._dirty.add(carrier.id)
        fid = self.tracker.by_inode.get((tf.mark.dev, tf.mark.ino))
        if fid is not None:
            self._dirty.add(fid)
        self._ckpt_dirty = True

    def _close_gone(self, tf: TrackedFile, now: float) -> None:
        """Close a file no longer at a watched path once deleted or quiet for ``linger``."""
        assert tf.fd is not None
        deleted = os.fstat(tf.fd).st_nlink == 0
        if deleted or now - tf.last_growth >= self.cfg.linger:
            self.tracker.close_for_good(tf)
            self.stats["files_closed"] += 1
            self._ckpt_dirty = True
        else:
            self._timers.add(tf.id)

    # -- checkpoint ---------------------------------------------------------------------------

    def _save(self, now: float) -> None:
        self.ckpt.next_seq = max(self.ckpt.next_seq, self.shipper.next_seq)
        self.store.save(self.ckpt)
        self._ckpt_dirty = False
        self._last_save = now

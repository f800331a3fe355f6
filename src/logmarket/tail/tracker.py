"""Keeping the set of tracked files true to the disk: new files, renames, rotations, copies,
truncations, deletions, and a restart's checkpoint matched back to the files.

* A path whose device+inode is known is that file, renamed or not (rename rotation: the
  rotated file is read to its end through the descriptor already open).
* A known inode with other first bytes, or shorter than what was read, had its content
  replaced (truncation, ``copytruncate``, inode reuse): that generation is retired and the
  file is read again from offset 0 as a new one. If the watcher had not read all of the old
  content, the rotated copy is looked for among its siblings (a file whose first bytes match)
  and read from where the old generation stopped: nothing is lost to ``copytruncate``.
* A new file whose first bytes match a file tracked in the same directory is a copy: it is
  held back, unread, until the original is truncated (then it is the rotated copy) - a plain
  copy of a live file is never shipped twice.
* A file that no longer sits at any watched path is read to its end, then closed once it is
  deleted or has been quiet for ``linger`` seconds.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from logmarket.tail.checkpoint import Checkpoint, FileMark
from logmarket.tail.files import TrackedFile, open_file
from logmarket.tail.identity import head_of, read_head
from logmarket.tail.multiline import Assembler
from logmarket.tail.restart import adopt_unseen, find_copy
from logmarket.tail.rules import Rules
from logmarket.tail.sources import is_gz, line_start, list_roots, open_source, unrotated

__all__ = ["Tracker"]

log = logging.getLogger("logmarket.tail")

Key = tuple[int, int]  # (st_dev, st_ino)


class Tracker:
    """The tracked files, indexed by id, inode and path."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        rules: Rules,
        new_assembler: Callable[[], Assembler],
        stats: dict[str, int],
        roots: list[tuple[str, bool]] | None = None,
        spool_dir: str | None = None,
    ) -> None:
        self.ckpt = checkpoint
        self.roots = list(roots or [])
        self.spool_dir = spool_dir
        self.rules = rules
        self.new_assembler = new_assembler
        self.stats = stats
        self.files: dict[str, TrackedFile] = {}
        self.by_inode: dict[Key, str] = {}
        self.by_path: dict[str, str] = {}
        # Set by reconcile() when a file the scan found had left its name before it could
        # be opened: the scan is out of date, take another.
        self.moved = False
        for mark in list(checkpoint.files.values()):
            self._make(mark, None)
            self.by_inode[(mark.dev, mark.ino)] = mark.id
            if mark.twin_of is None:
                self.by_path[mark.path] = mark.id

    def _make(self, mark: FileMark, fd: int | None) -> TrackedFile:
        tf = TrackedFile(mark, fd, self.new_assembler(), self.rules.labels(mark.stream))
        self.files[mark.id] = tf
        self.ckpt.files[mark.id] = mark
        return tf

    def new_file(
        self, path: str, st: os.stat_result, fd: int, offset: int, stream: str
    ) -> TrackedFile:
        head = head_of(read_head(fd))
        mark = FileMark(
            id=self.ckpt.new_file_id(), path=path, dev=st.st_dev, ino=st.st_ino,
            head_len=head.length, head=head.digest, offset=offset, stream=stream,
        )  # fmt: skip
        mark.rank = float(self.ckpt.next_file)
        tf = self._make(mark, fd)
        self.by_inode[(st.st_dev, st.st_ino)] = mark.id
        self.by_path[path] = mark.id
        return tf

    def drop(self, tf: TrackedFile) -> None:
        """Forget a file for good (closed, nothing of it in flight)."""
        tf.close()
        self.files.pop(tf.id, None)
        self.ckpt.files.pop(tf.id, None)
        key = (tf.mark.dev, tf.mark.ino)
        if self.by_inode.get(key) == tf.id:
            del self.by_inode[key]
        if self.by_path.get(tf.mark.path) == tf.id:
            del self.by_path[tf.mark.path]

    def close_for_good(self, tf: TrackedFile) -> None:
        """Close a gone file read to its end (deleted, or quiet), and drop it unless batches of
        it are still unacknowledged. Until they are, it is no longer known by its inode nor
        looked for: once deleted its inode number is free, and the next file created may get
        it - a new live log, say, which is a new file, not this one with its content replaced
        (as that it would be read as the closed file's next generation, ranked with it:
        before the unread lines of the generations rotated since)."""
        tf.close()
        tf.closed = True
        if tf.inflight == 0:
            self.drop(tf)
            return
        key = (tf.mark.dev, tf.mark.ino)
        if self.by_inode.get(key) == tf.id:
            del self.by_inode[key]

    # -- matching the disk ----------------------------------------------------------------

    def reconcile(
        self,
        found: dict[str, os.stat_result],
        *,
        start_at_end: Mapping[Key, int] | bool,
        now: float,
        since: float | None = None,
    ) -> tuple[set[str], list[TrackedFile]]:
        """Update from a scan; returns (ids to read, files whose content was replaced).

        ``start_at_end``: the files of the very first start, with their size then (they are
        read from there; any other file from its start). ``since``: after a restart, when the
        checkpoint was saved - the watched directories are searched for what was written
        since under any name (see :mod:`logmarket.tail.restart`).
        """
        dirty: set[str] = set()
        replaced: list[TrackedFile] = []
        seen: set[str] = set()
        self.moved = False
        # Oldest content first: a rotated generation found in the same scan as its successor
        # gets the lower id, and ids are the order files are read in.
        for path, st in sorted(found.items(), key=lambda item: item[1].st_mtime_ns):
            fid = self.by_inode.get((st.st_dev, st.st_ino))
            tf = self.files.get(fid) if fid is not None else None
            if tf is not None and not tf.retired:
                seen.add(tf.id)
                if self._found_again(tf, path, st, replaced):
                    dirty.add(tf.id)
                continue
            # A rotated name (app.log.1) ships as the log it was rotated from, even when
            # that one does not exist (yet): its lines and the next file's are one log.
            stream = unrotated(path)
            tf = self._adopt(path, st, stream, start_at_end=start_at_end, replaced=replaced)
            if tf is not None:
                seen.add(tf.id)
                dirty.add(tf.id)
        for tf in list(self.files.values()):
            if tf.id not in seen and not tf.retired and self._not_found(tf, now, replaced):
                dirty.add(tf.id)
        if since is not None:
            for tf in adopt_unseen(self, found, since):
                dirty.add(tf.id)
        return dirty, replaced

    def _found_again(
        self, tf: TrackedFile, path: str, st: os.stat_result, replaced: list[TrackedFile]
    ) -> bool:
        """A tracked file the scan found at ``path`` (its inode): follow its rename, open it
        if it is known only from the checkpoint. True if it has something to read."""
        if tf.mark.path != path:
            if self.by_path.get(tf.mark.path) == tf.id:
                del self.by_path[tf.mark.path]
            tf.mark.path = path
        self.by_path[path] = tf.id
        if tf.fd is None and not self._resume(tf, replaced):
            return False
        return tf.mark.twin_of is None and (st.st_size != tf.size or tf.waiting)

    def _not_found(self, tf: TrackedFile, now: float, replaced: list[TrackedFile]) -> bool:
        """A tracked file the scan did not find at any watched path: drop it (a held-back
        copy), count it replaced (gone while we were not running), or mark it gone (it is
        read to its end). True if it is to be read."""
        if tf.closed:
            return False  # waiting for its acks only (see close_for_good)
        if tf.mark.twin_of is not None:
            if tf.inflight == 0:
                self.drop(tf)  # a held-back copy that is gone: nothing to do with it
            return False
        if tf.fd is None and not self._find_moved(tf, replaced):
            # Gone from the watched directories while we were not running (compressed,
            # deleted): what it held unread may be in a copy - replace() looks for it.
            if tf not in replaced:
                replaced.append(tf)
            return False
        if not tf.gone:
            tf.gone = True
            tf.last_growth = now
            if self.by_path.get(tf.mark.path) == tf.id:
                del self.by_path[tf.mark.path]
        return True

    def _resume(self, tf: TrackedFile, replaced: list[TrackedFile]) -> bool:
        """Open a file known from the checkpoint; False if it cannot be."""
        got = open_source(tf.mark.path, gz=tf.mark.gz, start=tf.pos, spool_dir=self.spool_dir)
        if got is None:
            return False
        fd, st = got
        if (st.st_dev, st.st_ino) != (tf.mark.dev, tf.mark.ino):
            os.close(fd)
            return False
        tf.fd = fd
        tf.size = -1
        if st.st_size < tf.pos or tf.head_changed():
            replaced.append(tf)  # truncated or replaced while we were not running
        return True

    def _find_moved(self, tf: TrackedFile, replaced: list[TrackedFile]) -> bool:
        """Find a checkpointed file renamed out of the watched set: by its inode, under any
        name in the watched directories (or its own)."""
        for path, st in self.listing(tf.mark.path).items():
            # A plain file never becomes a gzip one in place: under the other kind of name
            # the inode was freed and reused (by the compressed copy, often).
            if (st.st_dev, st.st_ino) == (tf.mark.dev, tf.mark.ino) and is_gz(path) == tf.mark.gz:
                tf.mark.path = path
                if self._resume(tf, replaced):
                    tf.gone = True
                    return True
        return False

    def listing(self, *also: str) -> dict[str, os.stat_result]:
        """Every regular file of the watched directories and of the directories of ``also``."""
        roots = dict(self.roots)
        for p in also:
            roots.setdefault(os.path.dirname(p), False)
        return list_roots(list(roots.items()))

    def _adopt(
        self,
        path: str,
        st: os.stat_result,
        stream: str,
        *,
        start_at_end: Mapping[Key, int] | bool,
        replaced: list[TrackedFile],
    ) -> TrackedFile | None:
        fd = open_file(path)
        if fd is None:
            if not os.path.lexists(path):
                self.moved = True  # gone since the scan: look again
            return None
        scanned, st = st, os.fstat(fd)  # the file we opened, not the one the scan saw
        if (st.st_dev, st.st_ino) != (scanned.st_dev, scanned.st_ino):
            # Another file took the name since the scan (a rotation shifting names right
            # now): the one the scan saw is under another name, maybe unseen, and it is
            # older than this one - adopting this one first would read it first.
            os.close(fd)
            self.moved = True
            return None
        offset = 0
        if start_at_end is True:
            offset = st.st_size
        elif start_at_end and (st.st_dev, st.st_ino) in start_at_end:
            # There at the first start: read from where it stood then, not from where it
            # stands now that it is opened (lines written in between came after the start).
            offset = line_start(fd, min(st.st_size, start_at_end[(st.st_dev, st.st_ino)]))
        tf = self.new_file(path, st, fd, offset, stream)
        log.debug("new file %s %s at %d (stream %s)", tf.id, path, offset, stream)
        tf.fresh = offset == 0  # may still turn out to be a copy: see classify()
        live = self.files.get(self.by_path.get(stream, ""))
        if live is not None and live is not tf and path != stream:
            # A rotated generation seen for the first time holds lines newer than what the
            # live file was known to hold, older than what it will hold next.
            tf.mark.rank = live.mark.rank + 0.25
        self.stats["files_opened"] += 1
        return tf

    def classify(self, tf: TrackedFile, now: float, replaced: list[TrackedFile]) -> str:
        """Decide, before its first byte is read, whether a new file is a copy.

        ``"twin"``: its first bytes are those of a live file in the same directory - a copy,
        held back (if the original is already truncated, it is its rotated copy and the
        truncation is queued in ``replaced``). ``"wait"``: it is still a prefix of such a
        file (a copy being written); decided once it grows or stays quiet. ``"empty"``:
        nothing to decide on yet. ``"read"``: a new file of its own.
        """
        assert tf.fd is not None
        data = read_head(tf.fd)
        size = os.fstat(tf.fd).st_size
        if size != tf.seen_size:
            tf.seen_size, tf.last_growth = size, now
        if not data:
            return "empty"
        for other in self._siblings(tf.mark.path):
            if other is tf or other.fd is None:
                continue
            if other.pos > 0 and other.mark.head_len > 0:
                # Read from already: compare with the first bytes it was known by.
                if len(data) >= other.mark.head_len:
                    if other.head.matches(data):
                        truncated = other.head_changed() or other.stat_size() < other.pos
                        return self._twin(tf, other, replaced if truncated else None)
                elif os.pread(other.fd, len(data), 0) == data and not other.head_changed():
                    return "wait"
                continue
            # Nothing of it read yet: compare with what it holds now.
            theirs = read_head(other.fd)
            if b"\n" not in theirs:
                continue  # not even one line to tell it by
            if len(data) >= len(theirs):
                if data[: len(theirs)] == theirs:
                    # Fingerprint it by the bytes just compared, not by a fresh read: it may
                    # be truncated by now, and a head taken after that would hide the
                    # truncation - this copy would then wait while newer ones are read.
                    h = head_of(theirs)
                    other.mark.head_len, other.mark.head = h.length, h.digest
                    return self._twin(tf, other, None)
            elif theirs[: len(data)] == data:
                return "wait"
        tf.fresh = False
        return "read"

    def _twin(self, tf: TrackedFile, other: TrackedFile, replaced: list[TrackedFile] | None) -> str:
        """Hold ``tf`` back as a copy of ``other``; queue ``other``'s truncation if given."""
        log.debug("copy %s %s held as twin of %s", tf.id, tf.mark.path, other.id)
        tf.fresh = False
        tf.mark.twin_of = other.id
        tf.mark.stream = other.mark.stream
        self.stats["copies_held"] += 1
        # Fingerprint the original now (it may have had none yet): when its content is
        # replaced later, the read must notice, so that this copy gets read.
        other.refresh_head()
        if replaced is not None and other not in replaced:
            replaced.append(other)  # truncated since: this is its rotated copy
        return "twin"

    def _siblings(self, path: str) -> list[TrackedFile]:
        d = os.path.dirname(path)
        return [
            t
            for t in self.files.values()
            if not t.retired and t.mark.twin_of is None and os.path.dirname(t.mark.path) == d
        ]

    # -- content replaced ------------------------------------------------------------------

    def replace(self, old: TrackedFile) -> TrackedFile | None:
        """Retire a truncated/replaced generation; returns the carrier of its unread rest.

        The old generation's assembler must have been flushed and its records taken (its
        ``pos`` is where the old content stops being ours to read). The same inode goes on
        as a new generation read from 0.
        """
        self.stats["truncations"] += 1
        carrier = self._carrier(old)
        log.debug(
            "content replaced: %s %s at %d; rest from %s",
            old.id, old.mark.path, old.pos, carrier.mark.path if carrier else None,
        )  # fmt: skip
        fd, old.fd = old.fd, None
        old.retired = True
        key = (old.mark.dev, old.mark.ino)
        if self.by_path.get(old.mark.path) == old.id:
            del self.by_path[old.mark.path]
        if fd is not None and not old.mark.gz:
            # The inode goes on with its new content - renamed away or not: a file copied,
            # truncated, written and then rotated by rename still holds lines of its own.
            st = os.fstat(fd)
            new = self.new_file(old.mark.path, st, fd, 0, old.mark.stream)
            new.mark.rank = old.mark.rank + 0.5  # after the carrier and older rotations
            # Its content may be a copy (a deleted file's inode taken by logrotate's next
            # copy): judged before read, and a carrier candidate for the file it copies.
            new.fresh = True
            if old.gone:
                new.gone, new.last_growth = True, old.last_growth
                if self.by_path.get(new.mark.path) == new.id:
                    del self.by_path[new.mark.path]
        else:
            if fd is not None:
                os.close(fd)
            if self.by_inode.get(key) == old.id:
                del self.by_inode[key]
        if old.inflight == 0:
            self.drop(old)
        return carrier

    def _carrier(self, old: TrackedFile) -> TrackedFile | None:
        """The copy of ``old``'s content that holds what it had not read yet, if any: a file
        of the watched directories (any name, a ``.gz`` too) with the same first bytes."""
        if old.mark.head_len == 0:
            return None  # nothing read, no fingerprint: a copy is a file of its own
        for t in list(self.files.values()):
            if t is old or t.fd is None or not (t.mark.twin_of == old.id or t.fresh):
                continue
            if not old.head.matches(read_head(t.fd, old.mark.head_len)):
                continue
            if os.fstat(t.fd).st_size <= old.pos and t.inflight == 0:
                # A copy of what was read already (copied after the reader got ahead of
                # it): nothing in it is unread; reading it as a file of its own would
                # send all of it twice.
                self.stats["copies_read_already"] += 1
                self.drop(t)
                continue
            t.mark.stream = old.mark.stream
            return self._activate(t, old)
        copy = find_copy(self, old.mark, old.pos, old.pos)
        if copy is not None:
            path, fd, st, gz = copy
            t = self.new_file(path, st, fd, 0, old.mark.stream)
            t.mark.gz = gz
            return self._activate(t, old)
        if old.size > old.pos:
            self.stats["truncated_unread_bytes"] += old.size - old.pos
        if old.fd is None and old.size < 0:
            self.stats["files_lost"] += 1  # gone while we were not running, and no copy
        return None

    def _activate(self, copy: TrackedFile, old: TrackedFile) -> TrackedFile:
        copy.mark.rank = old.mark.rank  # it holds the rest of old's content: old's place
        copy.mark.twin_of = None
        copy.fresh = False
        copy.mark.offset = copy.pos = copy.sent = old.pos
        assert copy.fd is not None
        copy.size = os.fstat(copy.fd).st_size  # known unread: newer files wait for it
        self.stats["copies_read"] += 1
        return copy

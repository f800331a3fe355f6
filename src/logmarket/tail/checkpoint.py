"""The tailer's durable memory: where each file was read to, and what is in flight.

A checkpoint is one small JSON file, replaced atomically (temp file, fsync, rename, fsync of
the directory), so a crash leaves either the old or the new version, never a torn one.

It holds, besides each file's acknowledged offset, the *intents*: for each batch sent and not
yet known to be acknowledged, its seq and the byte ranges it covers. An intent is written
before its batch leaves, together with the client id, so that after a ``kill -9`` the next run
rebuilds the same batches from the files and resends them with the same ``(clientId, seq)``:
the daemon stores each at most once, and the ``lastSeq`` of its welcome tells which ones it
already holds. That is what makes a restart repeat nothing and lose nothing.

The client id comes with a secret (sent in the hello, kept by the daemon as a hash): another
local process that learns the id cannot take it over. The file is created mode 0600.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from logmarket.tail.errors import CheckpointError

__all__ = ["Checkpoint", "CheckpointStore", "FileMark", "Intent"]

_VERSION = 1


@dataclass(slots=True)
class FileMark:
    """One tracked file as the checkpoint remembers it.

    ``offset``: every byte before it was acknowledged by the daemon (or is covered by an
    intent). ``stream``: the path its records are labelled with (where the file was first
    seen: a rotated ``app.log.1`` still ships as ``app.log``). ``twin_of``: this file is a copy of that live file, held back unread until the
    original is truncated (``copytruncate``) - a plain copy of a live file is never re-sent.
    """

    id: str
    path: str
    dev: int
    ino: int
    head_len: int
    head: str
    offset: int
    stream: str = ""
    twin_of: str | None = None
    rank: float = 0.0  # read order: older content first (a rotated copy before the live file)
    fresh: bool = False  # nothing read yet and not known not to be a copy
    gz: bool = False  # a gzip file (a compressed rotation), read through its decompression


@dataclass(slots=True)
class Intent:
    """A batch in flight: its seq and the ``(file id, start, end)`` byte ranges it holds."""

    seq: int
    segments: list[tuple[str, int, int]]


@dataclass(slots=True)
class Checkpoint:
    """Everything the tailer needs to resume exactly where the daemon's store stands."""

    client_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    next_seq: int = 0
    next_file: int = 0
    files: dict[str, FileMark] = field(default_factory=dict)
    intents: dict[int, Intent] = field(default_factory=dict)
    # When the loaded checkpoint was last saved (its file's mtime; not stored in it): a file
    # changed since was written while no tailer was looking.
    saved_at: float = 0.0

    def new_file_id(self) -> str:
        self.next_file += 1
        return f"f{self.next_file}"

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _VERSION,
            "clientId": self.client_id,
            "clientSecret": self.client_secret,
            "nextSeq": self.next_seq,
            "nextFile": self.next_file,
            "files": [asdict(m) for m in self.files.values()],
            "intents": [[i.seq, [list(s) for s in i.segments]] for i in self.intents.values()],
        }

    @classmethod
    def from_json(cls, obj: Any) -> Checkpoint:
        try:
            if obj["version"] != _VERSION:
                raise ValueError(f"unknown checkpoint version {obj['version']!r}")
            files = {}
            for m in obj["files"]:
                mark = FileMark(**m)
                files[mark.id] = mark
            intents = {}
            for seq, segments in obj["intents"]:
                intents[int(seq)] = Intent(
                    int(seq), [(str(f), int(a), int(b)) for f, a, b in segments]
                )
            # A checkpoint from before secrets existed gets one now, kept from here on.
            secret = obj.get("clientSecret") or secrets.token_urlsafe(32)
            return cls(
                client_id=str(obj["clientId"]),
                client_secret=str(secret),
                next_seq=int(obj["nextSeq"]),
                next_file=int(obj["nextFile"]),
                files=files,
                intents=intents,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"checkpoint is not valid: {exc!r}") from exc


class CheckpointStore:
    """Reads and atomically replaces the checkpoint file at ``path``."""

    def __init__(self, path: str) -> None:
        self.path = os.path.abspath(path)
        self.saves = 0

    def load(self) -> Checkpoint | None:
        """The saved checkpoint, or ``None`` when there is none yet.

        A file that is not a valid checkpoint raises :class:`CheckpointError` and is left in
        place: starting over silently would re-send or skip every file.
        """
        try:
            with open(self.path, "rb") as f:
                raw = f.read()
                saved_at = os.fstat(f.fileno()).st_mtime
        except FileNotFoundError:
            return None
        try:
            obj = json.loads(raw)
        except ValueError as exc:
            raise CheckpointError(
                f"{self.path} is not JSON ({exc}); move it away to start over"
            ) from exc
        try:
            ckpt = Checkpoint.from_json(obj)
        except CheckpointError as exc:
            raise CheckpointError(f"{self.path}: {exc}; move it away to start over") from exc
        ckpt.saved_at = saved_at
        return ckpt

    def save(self, checkpoint: Checkpoint) -> None:
        """Replace the checkpoint durably: after this returns, a crash keeps this version."""
        directory = os.path.dirname(self.path)
        os.makedirs(directory, exist_ok=True)
        data = json.dumps(checkpoint.to_json(), separators=(",", ":")).encode()
        tmp = f"{self.path}.{os.getpid()}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.fchmod(fd, 0o600)  # it holds the client secret, whatever a stale temp file had
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        # The rename itself is durable only once the directory entry is on disk.
        dfd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self.saves += 1

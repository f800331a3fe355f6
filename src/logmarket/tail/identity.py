"""Which file is which: device + inode, checked by a fingerprint of the file's first bytes.

An inode number alone is not an identity: a deleted file's inode is reused by the next file
created, and ``copytruncate`` keeps the inode while replacing the content. So every tracked
file also remembers a hash of its first bytes (up to :data:`FP_BYTES`, fewer while the file is
shorter; it grows with the file). Same inode and same head: the same file, wherever it was
renamed. Same inode, different head: the content was replaced (truncation, inode reuse). Other
inode, same head: a copy (the rotated half of ``copytruncate``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

__all__ = ["FP_BYTES", "Head", "head_of", "read_head"]

FP_BYTES = 1024  # Filebeat's default fingerprint length: long enough to tell logs apart


@dataclass(frozen=True, slots=True)
class Head:
    """The fingerprint of a file's first ``length`` bytes."""

    length: int
    digest: str

    def matches(self, data: bytes) -> bool:
        """Whether ``data`` (a file's first bytes, at least ``length`` of them) starts the same."""
        return len(data) >= self.length and _digest(data[: self.length]) == self.digest


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def head_of(data: bytes) -> Head:
    """The fingerprint of ``data`` (a file's first bytes), cut at :data:`FP_BYTES`."""
    data = data[:FP_BYTES]
    return Head(len(data), _digest(data))


def read_head(fd: int, length: int = FP_BYTES) -> bytes:
    """The first ``length`` bytes of an open file (fewer if it is shorter)."""
    return os.pread(fd, length, 0)

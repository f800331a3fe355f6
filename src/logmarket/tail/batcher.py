"""Cutting one round of records into batches, remembering which bytes each batch holds.

A batch's ``segments`` are the ``(file id, start, end)`` byte ranges of its records: they
become the batch's intent in the checkpoint, and, once acknowledged, the files' offsets.
"""

from __future__ import annotations

from logmarket.tail.files import TrackedFile, encode_records
from logmarket.tail.lines import Line

__all__ = ["Batch", "Builder"]


class Batch:
    """One batch being filled: its encoded records and the byte ranges they come from."""

    __slots__ = ("nbytes", "records", "segments")

    def __init__(self) -> None:
        self.records: list[str] = []
        self.segments: list[tuple[str, int, int]] = []
        self.nbytes = 0


class Builder:
    """Cuts records into batches of at most ``max_records`` / ``max_bytes``."""

    def __init__(self, max_records: int, max_bytes: int, max_batches: int) -> None:
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.max_batches = max_batches
        self.batches: list[Batch] = [Batch()]
        self._encoded: list[str] = []

    @property
    def room(self) -> int:
        """Records that still fit in the batches this round may fill."""
        last = self.batches[-1]
        if len(self.batches) >= self.max_batches and last.nbytes >= self.max_bytes:
            return 0
        used = (len(self.batches) - 1) * self.max_records + len(last.records)
        return self.max_batches * self.max_records - used

    def add(self, tf: TrackedFile, records: list[Line], wall: float) -> None:
        if not records:
            return
        encoded = self._encoded
        encoded.clear()
        encode_records(records, tf.suffix(wall), encoded)
        batch = self.batches[-1]
        for (_text, end, _flags), rec in zip(records, encoded, strict=True):
            n = len(rec) + 1
            if batch.records and (
                len(batch.records) >= self.max_records or batch.nbytes + n > self.max_bytes
            ):
                batch = Batch()
                self.batches.append(batch)
            batch.records.append(rec)
            batch.nbytes += n
            seg = batch.segments[-1] if batch.segments else None
            if seg is not None and seg[0] == tf.id and seg[2] == tf.sent:
                batch.segments[-1] = (tf.id, seg[1], end)
            else:
                batch.segments.append((tf.id, tf.sent, end))
                tf.inflight += 1
            tf.sent = end

    def take(self) -> list[Batch]:
        return [b for b in self.batches if b.records]

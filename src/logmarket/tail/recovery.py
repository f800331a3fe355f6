"""After a restart: the batches a previous run sent without seeing their acks, rebuilt.

Each intent in the checkpoint names byte ranges of files; the bytes are read again (from the
file, or from its rotated copy if it was truncated since) and the batch is put back in the
shipper's window under its old seq. On connect, the daemon's ``lastSeq`` drops the ones it
already holds and the rest are resent: none is stored twice, none is lost.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable

from logmarket.shipper import Shipper
from logmarket.tail.checkpoint import Checkpoint
from logmarket.tail.files import encode_records
from logmarket.tail.lines import Line, split_lines
from logmarket.tail.multiline import Assembler
from logmarket.tail.restart import locate
from logmarket.tail.tracker import Tracker

__all__ = ["rebuild_window"]

log = logging.getLogger("logmarket.tail")


def rebuild_window(
    ckpt: Checkpoint,
    tracker: Tracker,
    shipper: Shipper,
    new_assembler: Callable[[], Assembler],
    max_line: int,
    stats: Counter[str],
) -> None:
    """Rebuild the batches a previous run sent without seeing their acks, same seqs.

    The daemon acks the ones it already holds as duplicates (or skips them by the
    welcome's ``lastSeq``) and stores the others: each is stored exactly once.
    """
    wall = time.time()
    files = tracker.files
    for seq in sorted(ckpt.intents):
        intent = ckpt.intents[seq]
        records: list[str] = []
        kept: list[tuple[str, int, int]] = []
        for fid, start, end in intent.segments:
            tf = files.get(fid)
            fd = locate(tracker, tf.mark, start, end) if tf is not None else None
            if tf is None or fd is None:
                stats["rebuild_lost_segments"] += 1
                if tf is not None:
                    # Nowhere to be found, and maybe stored already: not read again from
                    # another copy (that would store them twice).
                    tf.pos = tf.sent = max(tf.sent, end)
                continue
            try:
                data = os.pread(fd, end - start, start)
            finally:
                os.close(fd)
            lines, _ = split_lines(data, start, max_line, flush=True)
            out: list[Line] = []
            asm = new_assembler()
            asm.feed(lines, out)
            asm.flush(out)
            encode_records(out, tf.suffix(wall), records)
            kept.append((fid, start, end))
            tf.inflight += 1
            tf.pos = tf.sent = max(tf.sent, end)
        if not records:
            del ckpt.intents[seq]
            continue
        intent.segments = kept
        frame = (
            f'{{"type":"batch","seq":{seq},"dropped":0,"records":[' + ",".join(records) + "]}\n"
        ).encode("ascii")
        shipper.unacked[seq] = frame
        shipper.unacked_records[seq] = len(records)
        stats["batches_rebuilt"] += 1
        log.debug("rebuilt batch %d: %s", seq, kept)

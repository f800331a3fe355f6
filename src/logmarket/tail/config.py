"""The tailer's settings, with the defaults the CLI and the daemon share."""

from __future__ import annotations

from dataclasses import dataclass, field

from logmarket.tail.rules import PathRule

__all__ = ["DEFAULT_EXCLUDE", "TailConfig"]

# Compressed rotations are binary; their lines were read before they were compressed.
DEFAULT_EXCLUDE = ("*.gz", "*.bz2", "*.xz", "*.zst", "*.zip", "*.lz4")


@dataclass(slots=True)
class TailConfig:
    """What to tail, where to ship it, and how.

    ``mode``: ``"auto"`` (watchdog events if installed, else polling), ``"events"`` or
    ``"poll"``. ``from_beginning``: on the very first run (no checkpoint yet), read files
    that already exist from their start instead of their end; files that appear later are
    always read from their start.
    """

    paths: list[str]
    socket_path: str
    checkpoint_path: str
    from_beginning: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = DEFAULT_EXCLUDE
    rules: tuple[PathRule, ...] = ()
    sub_pkp_id: str | None = None
    key: str | None = None  # the Sub-PKP key the lines credit (sent in the hello); none: no one
    mode: str = "auto"
    poll_interval: float = 1.0  # seconds between scans when polling
    rescan_interval: float = 10.0  # seconds between safety scans with events
    flush_timeout: float = 1.0  # quiet seconds before a partial line / open event is sent
    linger: float = 5.0  # quiet seconds before a rotated-away file is closed
    multiline: bool = True
    start_pattern: str | None = None
    max_line_bytes: int = 64 * 1024
    max_event_bytes: int = 128 * 1024
    max_event_lines: int = 1000
    batch_records: int = 4000
    max_in_flight: int = 8  # batches sent and not yet acknowledged
    read_chunk: int = 512 * 1024
    checkpoint_interval: float = 1.0
    drain_timeout: float = 5.0  # seconds to wait for acks when stopping
    host: str | None = None
    extra_hello: dict[str, object] = field(default_factory=dict)

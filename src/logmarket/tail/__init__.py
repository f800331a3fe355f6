"""Tailing log files into the daemon: rotation-, truncation- and restart-proof.

``Tailer(TailConfig(paths, socket_path, checkpoint_path)).run()`` watches files, directories
(recursively) and globs, joins multiline events, and ships every line exactly once through
the acknowledged wire protocol; offsets advance only on the daemon's acks and are kept in a
durable checkpoint. Standard library only at import time; watchdog is used when installed.
"""

from __future__ import annotations

from logmarket.tail.config import DEFAULT_EXCLUDE, TailConfig
from logmarket.tail.errors import CheckpointError, TailError, TargetError
from logmarket.tail.rules import PathRule, parse_rule
from logmarket.tail.watcher import Tailer

__all__ = [
    "DEFAULT_EXCLUDE",
    "CheckpointError",
    "PathRule",
    "TailConfig",
    "TailError",
    "Tailer",
    "TargetError",
    "parse_rule",
]

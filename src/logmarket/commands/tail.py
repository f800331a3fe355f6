"""``logmarket tail``: follow log files, directories and globs into the daemon, exactly once."""

from __future__ import annotations

import argparse
import functools
import os
import signal
import sys
from typing import TYPE_CHECKING, Any

from logmarket.shipper import default_socket_path

if TYPE_CHECKING:
    from logmarket.tail import TailConfig


def register(sub: Any) -> None:
    p = sub.add_parser(
        "tail",
        help="follow files, directories (recursively) and globs into the daemon",
        description="Ship every line of the given files to logmarketd, surviving rotation "
        "(rename or copytruncate), truncation and restarts of either side: offsets advance "
        "only when the daemon has acknowledged the lines, and are kept in a checkpoint.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH|GLOB", help="file, directory or glob")
    p.add_argument("--socket", default=None, help="daemon socket [env: LOGMARKET_SOCKET]")
    p.add_argument(
        "--from-beginning",
        action="store_true",
        help="on the first run, read existing files from their start (default: their end)",
    )
    p.add_argument(
        "--checkpoint",
        default=None,
        help="checkpoint file (default: .logmarket/tail-checkpoint.json) "
        "[env: LOGMARKET_TAIL_CHECKPOINT]",
    )
    p.add_argument("--include", action="append", default=[], metavar="GLOB",
                   help="only files matching (name, or path if it has a /); repeatable")  # fmt: skip
    p.add_argument("--exclude", action="append", default=None, metavar="GLOB",
                   help="skip files matching; repeatable (default: compressed files)")  # fmt: skip
    p.add_argument("--rule", action="append", default=[], metavar="GLOB=SOURCE[,SUBPKP]",
                   help="label files matching GLOB; first match wins; repeatable")  # fmt: skip
    p.add_argument("--sub-pkp", default=None, help="Sub-PKP id for files no rule names")
    p.add_argument("--key", default=os.environ.get("LOGMARKET_KEY") or None,
                   help="Sub-PKP key the lines credit (without one they credit no one); prefer"
                   " the environment, a command line is visible to others [env: LOGMARKET_KEY]")  # fmt: skip
    p.add_argument("--poll", action="store_true",
                   help="poll instead of file-system events (network/overlay file systems)")  # fmt: skip
    p.add_argument("--poll-interval", type=float, default=1.0, help="seconds (default 1)")
    p.add_argument("--start-pattern", default=None, metavar="REGEX",
                   help="a line matching starts a record; others continue it")  # fmt: skip
    p.add_argument("--no-multiline", action="store_true", help="one record per line")
    p.add_argument("--flush-timeout", type=float, default=1.0,
                   help="quiet seconds before a partial line or open event is sent")  # fmt: skip
    p.add_argument("-v", "--verbose", action="store_true", help="log each file decision")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from logmarket.tail import Tailer, TailError

    try:
        config = _config(args)
        tailer = Tailer(config)
        if args.verbose:
            _log_decisions()
    except (TailError, ValueError) as exc:
        print(f"logmarket tail: {exc}", file=sys.stderr)
        return 2
    tailer.on_status = functools.partial(_print_status, config.socket_path)

    def _stop(signum: int, frame: Any) -> None:
        tailer.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        tailer.run()
    except TailError as exc:
        print(f"logmarket tail: {exc}", file=sys.stderr)
        return 1
    stats = dict(sorted(tailer.stats.items()))
    print(f"logmarket tail: stopped {stats}", file=sys.stderr)
    return 0


def _config(args: argparse.Namespace) -> TailConfig:
    """The tailer's configuration from the command line (and its environment defaults).
    Raises ``TailError`` or ``ValueError`` on a malformed rule."""
    from logmarket.tail import DEFAULT_EXCLUDE, TailConfig, parse_rule

    return TailConfig(
        paths=list(args.paths),
        socket_path=args.socket or default_socket_path(),
        checkpoint_path=args.checkpoint
        or os.environ.get("LOGMARKET_TAIL_CHECKPOINT")
        or ".logmarket/tail-checkpoint.json",
        from_beginning=args.from_beginning,
        include=tuple(args.include),
        exclude=tuple(args.exclude) if args.exclude is not None else DEFAULT_EXCLUDE,
        rules=tuple(parse_rule(r) for r in args.rule),
        sub_pkp_id=args.sub_pkp,
        key=args.key,
        mode="poll" if args.poll else "auto",
        poll_interval=args.poll_interval,
        start_pattern=args.start_pattern,
        multiline=not args.no_multiline,
        flush_timeout=args.flush_timeout,
    )


def _log_decisions() -> None:
    """``--verbose``: each file decision of the tailer, timestamped, on stderr."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.getLogger("logmarket.tail").addHandler(handler)
    logging.getLogger("logmarket.tail").setLevel(logging.DEBUG)


def _print_status(sock: str, event: str, detail: str) -> None:
    """Say on stderr that the daemon at ``sock`` became unreachable, or is back."""
    # One line each way, not one per retry: the lines wait in their files meanwhile.
    if event == "unreachable":
        msg = (
            f"cannot reach the daemon at {sock} ({detail}); start it with "
            f"`logmarketd --socket {sock}` or point --socket / LOGMARKET_SOCKET at the "
            "running one - retrying, nothing is lost meanwhile"
        )
    else:
        msg = f"reconnected to the daemon at {sock}"
    print(f"logmarket tail: {msg}", file=sys.stderr, flush=True)

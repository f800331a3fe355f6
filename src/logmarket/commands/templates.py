"""``logmarket templates``: mine log templates from a file or stdin, no daemon needed.

With ``--json`` stdout carries exactly one JSON object per input line, in input order,
``{"line": n, "templateId": "...", "template": "..."}`` (``n`` counts from 1), and nothing
else; the summary goes to stderr. Each line is reported with its template's final form
(a template generalised by a later line is reported generalised for earlier lines too).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from logmarket.commands._daemon import daemon_code
from logmarket.commands._files import open_input

__all__ = ["register", "run"]

_DETECT_SAMPLE = 200


def register(sub: Any) -> None:
    """Add the ``templates`` subcommand."""
    p = sub.add_parser("templates", help="mine log templates from a file or - (stdin)")
    p.add_argument("path", help="log file to read, or - for standard input")
    p.add_argument(
        "--log-format",
        default=None,
        help="header format, e.g. '<Date> <Time> <Level> <Component>: <Content>'; "
        "'<Content>' takes each whole line as the message (default: auto-detect)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per input line")
    p.add_argument("--db", default=None, help="SQLite file to load templates from and save them to")
    p.add_argument(
        "--max-templates", type=int, default=100_000, help="cap on templates kept in memory"
    )
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    """Read, cut, mine, print."""
    with daemon_code():
        from logmarketd.transform.mining import HeaderParser, LogFormatError, Miner, detect_format
        from logmarketd.transform.mining.persistence import SqliteTemplateStore

    started = time.perf_counter()
    with open_input(args.path) as stream:
        lines = [raw.decode("utf-8", "replace").rstrip("\r\n") for raw in stream]
    log_format = args.log_format or detect_format(lines[:_DETECT_SAMPLE])
    try:
        parser = HeaderParser(log_format, strict=args.log_format is None)
    except LogFormatError as exc:
        print(f"logmarket templates: {exc}", file=sys.stderr)
        return 2
    if log_format.strip() == "<Content>":
        contents = lines
        unmatched = 0
    else:
        parsed = [parser.parse(line) for line in lines]
        contents = [p.content for p in parsed]
        unmatched = sum(1 for p in parsed if not p.matched)

    store = SqliteTemplateStore(args.db) if args.db else None
    options: dict[str, Any] = {"max_templates": args.max_templates}
    miner = Miner.from_rows(store.load(), **options) if store else Miner(**options)
    labels = miner.label(contents, ts=time.time())
    if store is not None:
        store.save(miner.export_rows())
        store.close()

    if args.json:
        encoded: dict[str, str] = {}
        out = []
        for n, (tid, text) in enumerate(labels, 1):
            tail = encoded.get(tid)
            if tail is None:
                tail = encoded[tid] = (
                    f', "templateId": "{tid}", "template": {json.dumps(text, ensure_ascii=False)}}}\n'
                )
            out.append(f'{{"line": {n}{tail}')
            if len(out) >= 10_000:
                sys.stdout.write("".join(out))
                out.clear()
        sys.stdout.write("".join(out))
    else:
        counts: dict[tuple[str, str], int] = {}
        for label in labels:
            counts[label] = counts.get(label, 0) + 1
        for (tid, text), count in sorted(counts.items(), key=lambda kv: -kv[1]):
            sys.stdout.write(f"{count:>9} {tid} {text}\n")
    sys.stdout.flush()
    elapsed = time.perf_counter() - started
    print(
        f"logmarket templates: {len(lines)} lines, {len({t for t, _ in labels})} templates, "
        f"format {log_format!r}, {unmatched} lines without that header, "
        f"{miner.evicted} evicted, {elapsed:.2f} s",
        file=sys.stderr,
    )
    return 0

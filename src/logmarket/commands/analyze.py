"""``logmarket analyze``: analyse a log file, standard input or every file of a directory with
the rule engine, without a daemon. ``--json`` prints one LogAnalysis object per log (camelCase),
one per line for a directory; ``--explain`` prints why it scored as it did (on stderr with
``--json``, so standard output stays pure JSON).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any

from logmarket._text import NotTextError
from logmarket.commands._daemon import daemon_code
from logmarket.commands._files import open_input
from logmarket.errors import UsageError
from logmarket.protocol import SOURCES

__all__ = ["register", "run"]

# A long log is analysed in pieces of this many bytes (a piece is what memory holds), and
# their findings merged: as the daemon analyses a stream window by window.
_CHUNK = 2 * 1024 * 1024


def register(sub: Any) -> None:
    p = sub.add_parser(
        "analyze", help="analyse a log (file, directory or -) offline and print the insights"
    )
    p.add_argument("path", help="log file, directory of logs, or - for standard input")
    p.add_argument("--source", choices=SOURCES, required=True, help="where the log comes from")
    p.add_argument("--sub-pkp", default=None, help="Sub-PKP id the log is analysed for")
    p.add_argument(
        "--json", action="store_true", help="print the LogAnalysis as JSON (one object per log)"
    )
    p.add_argument("--explain", action="store_true", help="print how each score was computed")
    p.set_defaults(run=run)


def _progress(done: int, total: int, label: str) -> None:
    width = 30
    frac = done / total if total else 1.0
    bar = "#" * int(width * frac)
    sys.stderr.write(f"\r{label[:40]:40} [{bar:<{width}}] {frac:4.0%}")
    sys.stderr.flush()


def _chunks(stream: Iterable[bytes]) -> Iterator[tuple[str, int]]:
    """The log in pieces of about ``_CHUNK`` bytes, each with the bytes read so far. A piece
    ends only between two lines that start flush left, so that a traceback, a stack trace or
    an indented continuation stays in one piece (unless one runs past twice the size)."""
    buf: list[bytes] = []
    size = read = 0
    flush_left = False  # the previous line started flush left
    for raw in stream:
        left = raw[:1] not in (b" ", b"\t")
        if buf and (size >= 2 * _CHUNK or (size >= _CHUNK and left and flush_left)):
            yield b"".join(buf).decode("utf-8", "replace"), read
            buf, size = [], 0
        buf.append(raw)
        size += len(raw)
        read += len(raw)
        flush_left = left
    if buf or not read:
        yield b"".join(buf).decode("utf-8", "replace"), read


def _inspect(path: str, args: argparse.Namespace, show: bool) -> tuple[Any, int]:
    """The log at ``path`` analysed piece by piece (memory stays bounded by a piece), the
    pieces' findings merged into one analysis; progress through the analysis on a terminal."""
    with daemon_code():
        from logmarketd.analysis.analyse import inspect_log

    from logmarket.commands._merge import Merged

    name = "<stdin>" if path == "-" else os.path.basename(path)
    total = 0 if path == "-" else os.path.getsize(path)
    merged = Merged()
    with open_input(path) as stream:
        for text, read in _chunks(stream):
            merged.add(inspect_log(text, args.source, args.sub_pkp))
            if show and (merged.pieces > 1 or read < total):
                if total:
                    _progress(read, total, f"analysing {name}")
                else:
                    sys.stderr.write(f"\ranalysing {name}: {read / 1e6:.0f} MB")
    if show and merged.pieces > 1:
        sys.stderr.write("\r" + " " * 80 + "\r")
    return merged.inspection(), merged.pieces


def _human(report: Any, name: str, pieces: int = 1) -> str:
    a = report.analysis
    ins = a.ai_insights
    out = [f"{name}: source={a.source} valueScore={a.value_score:g} overall={a.quality.overall:g}"]
    if pieces > 1:
        out.append(
            f"  (a long log: analysed in {pieces} pieces of {_CHUNK // 2**20} MiB; ×N counts "
            "a finding in the whole log, the figures in its title are of the first piece)"
        )
    rows: list[tuple[str, str, str, str | None, int]] = []
    rows += [("error", e.severity, e.pattern, e.location, e.count) for e in ins.error_patterns]
    rows += [("performance", p.severity or "-", p.issue, p.location, p.count)
             for p in ins.performance_issues]  # fmt: skip
    rows += [("security", s.severity, s.threat, s.location, s.count)
             for s in ins.security_concerns]  # fmt: skip
    rows += [("quality", i.impact, i.area, i.location, i.count)
             for i in ins.improvement_opportunities]  # fmt: skip
    if not rows:
        out.append("  no findings")
    for kind, sev, title, loc, count in rows:
        times = f" ×{count}" if pieces > 1 and count > 1 else ""
        out.append(f"  [{kind}/{sev}] {title}{times}" + (f"\n      at {loc}" if loc else ""))
    q = a.quality
    out.append(
        f"  quality: completeness {q.completeness:g}, relevance {q.relevance:g}, "
        f"actionability {q.actionability:g}, uniqueness {q.uniqueness:g}"
    )
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    with daemon_code():
        import logmarketd.analysis.analyse  # noqa: F401  (the daemon's part is installed)
    show = sys.stderr.isatty()
    if args.path != "-" and not os.path.exists(args.path):
        raise UsageError(f"cannot read {args.path}: no such file or directory")
    if args.path != "-" and os.path.isdir(args.path):
        paths = sorted(os.path.join(args.path, n) for n in os.listdir(args.path))
        paths = [p for p in paths if os.path.isfile(p)]
    else:
        paths = [args.path]
    status = 0
    for i, path in enumerate(paths):
        try:
            inspection, pieces = _inspect(path, args, show)
            report = inspection.report()
        except NotTextError as exc:
            if len(paths) == 1:
                raise
            print(f"logmarket analyze: {exc}", file=sys.stderr)
            status = 1
            continue
        except (OSError, UsageError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            print(f"logmarket analyze: cannot read {path}: {why}", file=sys.stderr)
            status = 1
            continue
        if args.json:
            sys.stdout.write(
                json.dumps(report.analysis.model_dump(mode="json", by_alias=True)) + "\n"
            )
        else:
            print(_human(report, "<stdin>" if path == "-" else path, pieces))
        if args.explain:
            print(
                "\n".join(f"  why: {line}" for line in report.explanation),
                file=sys.stderr if args.json else sys.stdout,
            )
        if show and len(paths) > 1:
            _progress(i + 1, len(paths), "logs")
    if show and len(paths) > 1:
        sys.stderr.write("\n")
    return status

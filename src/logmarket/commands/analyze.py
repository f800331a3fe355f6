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
from typing import Any

from logmarket.commands._daemon import daemon_code
from logmarket.errors import UsageError
from logmarket.protocol import SOURCES

__all__ = ["register", "run"]

_BIG = 4 * 1024 * 1024  # show a progress bar on a terminal for files above this size
_CHUNK = 1024 * 1024


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


def _read(path: str, show: bool) -> str:
    if path == "-":
        return sys.stdin.buffer.read().decode("utf-8", "replace")
    size = os.path.getsize(path)
    if not (show and size > _BIG):
        with open(path, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    parts: list[bytes] = []
    done = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            parts.append(chunk)
            done += len(chunk)
            _progress(done, size, f"reading {os.path.basename(path)}")
    sys.stderr.write(f"\ranalysing {os.path.basename(path)} ...{' ' * 50}\r")
    return b"".join(parts).decode("utf-8", "replace")


def _human(report: Any, name: str) -> str:
    a = report.analysis
    ins = a.ai_insights
    out = [f"{name}: source={a.source} valueScore={a.value_score:g} overall={a.quality.overall:g}"]
    rows: list[tuple[str, str, str, str | None]] = []
    rows += [("error", e.severity, e.pattern, e.location) for e in ins.error_patterns]
    rows += [
        ("performance", p.severity or "-", p.issue, p.location) for p in ins.performance_issues
    ]
    rows += [("security", s.severity, s.threat, s.location) for s in ins.security_concerns]
    rows += [("quality", i.impact, i.area, i.location) for i in ins.improvement_opportunities]
    if not rows:
        out.append("  no findings")
    for kind, sev, title, loc in rows:
        out.append(f"  [{kind}/{sev}] {title}" + (f"\n      at {loc}" if loc else ""))
    q = a.quality
    out.append(
        f"  quality: completeness {q.completeness:g}, relevance {q.relevance:g}, "
        f"actionability {q.actionability:g}, uniqueness {q.uniqueness:g}"
    )
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    with daemon_code():
        from logmarketd.analysis.analyse import inspect_log
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
            text = _read(path, show)
        except OSError as exc:
            print(f"logmarket analyze: cannot read {path}: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        report = inspect_log(text, args.source, args.sub_pkp).report()
        if args.json:
            sys.stdout.write(
                json.dumps(report.analysis.model_dump(mode="json", by_alias=True)) + "\n"
            )
        else:
            print(_human(report, "<stdin>" if path == "-" else path))
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

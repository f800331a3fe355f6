"""Benchmark: the template miner against drain3 on Loghub-2k, side by side, same process.

Run: ``python -m tests.bench.loghub [--data DIR] [--systems A,B] [--stream-lines N]``.

For each system the raw log is cut with the system's Loghub header format (the same content
for both miners) and each line's *final* template is scored against the corrected ground
truth, grouped by the ``EventTemplate`` string:

- GA (grouping accuracy, Zhu et al. 2019): a line is right iff its predicted group holds
  exactly the lines of its true group;
- FGA (F1 grouping accuracy, Khan et al. 2022): the F1 of the shares of predicted groups
  that are exactly a true group and of true groups found exactly (a rare event split or
  merged weighs as much as a frequent one);
- PA (parsing accuracy): a line is right iff its template text equals the truth's after
  normalisation: whitespace collapsed, every placeholder (``<*>``, drain3's ``<NUM>``,
  ``<IP>``...) written ``<*>``, and placeholders separated only by blanks merged into one
  (our masker merges multi-word variables, e.g. ``<*> <*>`` in truth is ``<*>`` for us).
  The same normalisation is applied to truth, ours and drain3's.

drain3 runs with its default configuration and with the masking of its documented example
configuration (``examples/drain3.ini``: ID, IP, SEQ, HEX, NUM). Then a 1,000,000-line
stream with realistic repetition (HDFS messages resampled with their numbers redrawn) is
mined by both, and peak RSS is printed.

Leave-one-system-out (generalisation to a system nothing was chosen on): the miner's
parameters and generalisation rules (:data:`OUR_CHOICES`), and drain3's similarity threshold,
are chosen on 11 systems and scored on the 12th, for each of the 12.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
import resource
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from logmarketd.transform.mining import HeaderParser, Miner

# The benchmark data is part of the repository (tests/data/loghub-2k, with its README and
# SHA256SUMS), so a fresh clone tests and benchmarks with nothing else; LOGMARKET_DATASETS
# names another folder holding a loghub-2k/.
DATASETS = Path(
    os.environ.get("LOGMARKET_DATASETS") or Path(__file__).resolve().parents[1] / "data"
)
DATA = DATASETS / "loghub-2k"

FORMATS: dict[str, str] = {
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "Spark": "<Date> <Time> <Level> <Component>: <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> <Content>",
    "HPC": "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Thunderbird": r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> <Component>(\[<PID>\])?: <Content>",
    "Windows": "<Date> <Time>, <Level>                  <Component>    <Content>",
    "Android": "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "Proxifier": r"\[<Time>\] <Program> - <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
}

DRAIN3_EXAMPLE_MASKING = [
    (r"((?<=[^A-Za-z0-9])|^)(([0-9a-f]{2,}:){3,}([0-9a-f]{2,}))((?=[^A-Za-z0-9])|$)", "ID"),
    (r"((?<=[^A-Za-z0-9])|^)(\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})((?=[^A-Za-z0-9])|$)", "IP"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9a-f]{6,} ?){3,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)([0-9A-F]{4} ?){4,}((?=[^A-Za-z0-9])|$)", "SEQ"),
    (r"((?<=[^A-Za-z0-9])|^)(0x[a-f0-9A-F]+)((?=[^A-Za-z0-9])|$)", "HEX"),
    (r"((?<=[^A-Za-z0-9])|^)([\-\+]?\d+)((?=[^A-Za-z0-9])|$)", "NUM"),
]

Labeller = Callable[[Sequence[str]], list[str]]


def load_system(name: str, data: Path = DATA) -> tuple[list[str], list[str]]:
    """The system's messages (cut from the raw log) and their true templates."""
    folder = data / name
    parser = HeaderParser(FORMATS[name])
    raw = (folder / f"{name}_2k.log").read_text(encoding="utf-8").splitlines()
    contents = [parser.parse(line).content for line in raw]
    with (folder / f"{name}_2k.log_structured_corrected.csv").open(encoding="utf-8") as f:
        truth = [row["EventTemplate"] for row in csv.DictReader(f)]
    if len(truth) != len(contents):
        raise ValueError(f"{name}: {len(contents)} lines but {len(truth)} labels")
    return contents, truth


_PLACEHOLDERS = re.compile(r"<\*>|<[A-Z0-9_]+>")
_RUNS = re.compile(r"<\*>(?:\s+<\*>)+")


def normalise(template: str) -> str:
    """The comparison form of a template for PA (see the module docstring)."""
    text = " ".join(_PLACEHOLDERS.sub("<*>", template).split())
    return _RUNS.sub("<*>", text)


def grouping_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """Share of lines whose predicted group is exactly their true group."""
    pred_groups: dict[str, set[int]] = defaultdict(set)
    true_groups: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred_groups[p].add(i)
        true_groups[t].add(i)
    right = sum(len(g) for g in pred_groups.values() if g == true_groups[truth[next(iter(g))]])
    return right / len(truth)


def f1_grouping_accuracy(predicted: Sequence[str], truth: Sequence[str]) -> float:
    """FGA (Khan et al. 2022): the F1 of the share of predicted groups that are exactly a
    true group (precision) and the share of true groups found exactly (recall)."""
    pred_groups: dict[str, set[int]] = defaultdict(set)
    true_groups: dict[str, set[int]] = defaultdict(set)
    for i, (p, t) in enumerate(zip(predicted, truth, strict=True)):
        pred_groups[p].add(i)
        true_groups[t].add(i)
    exact = sum(1 for g in pred_groups.values() if g == true_groups[truth[next(iter(g))]])
    if not exact:
        return 0.0
    precision, recall = exact / len(pred_groups), exact / len(true_groups)
    return 2 * precision * recall / (precision + recall)


def parsing_accuracy(templates: Sequence[str], truth: Sequence[str]) -> float:
    """Share of lines whose template equals the truth after :func:`normalise`."""
    cache: dict[str, str] = {}

    def norm(t: str) -> str:
        if t not in cache:
            cache[t] = normalise(t)
        return cache[t]

    return sum(norm(p) == norm(t) for p, t in zip(templates, truth, strict=True)) / len(truth)


def ours(contents: Sequence[str], **options: Any) -> list[str]:
    """Our miner's final template text per message (``options``: the Miner's)."""
    return [text for _, text in Miner(**options).label(contents)]


def drain3_labeller(masking: bool, sim_th: float | None = None) -> Labeller:
    """drain3 (default settings, optionally its documented example masking and another
    similarity threshold)."""
    from drain3 import TemplateMiner
    from drain3.masking import MaskingInstruction
    from drain3.template_miner_config import TemplateMinerConfig

    def run(contents: Sequence[str]) -> list[str]:
        config = TemplateMinerConfig()
        config.profiling_enabled = False
        if sim_th is not None:
            config.drain_sim_th = sim_th
        if masking:
            config.masking_instructions = [
                MaskingInstruction(p, m) for p, m in DRAIN3_EXAMPLE_MASKING
            ]
        tm = TemplateMiner(config=config)
        ids = [tm.add_log_message(c)["cluster_id"] for c in contents]
        final = {c.cluster_id: c.get_template() for c in tm.drain.clusters}
        return [final[i] for i in ids]

    return run


def measure(label: Labeller, contents: Sequence[str], truth: Sequence[str]) -> dict[str, Any]:
    """GA, PA, number of templates and lines/s of one labeller on one system.

    Each labeller builds a fresh miner per call. It runs twice: ``cold`` is the first run
    in this process on this system's content (it pays one-time costs such as compiling
    our masking alternations for the character mixes of these lines), ``lps`` the second
    (a fresh miner in a warm process, as in a long-running daemon).
    """
    start = time.perf_counter()
    label(contents)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    predicted = label(contents)
    elapsed = time.perf_counter() - start
    return {
        "ga": grouping_accuracy(predicted, truth),
        "pa": parsing_accuracy(predicted, truth),
        "fga": f1_grouping_accuracy(predicted, truth),
        "n": len(set(predicted)),
        "lps": len(contents) / elapsed,
        "cold": len(contents) / cold,
    }


def repetition_stream(contents: Sequence[str], n: int, seed: int = 7) -> list[str]:
    """``n`` messages drawn from ``contents`` with their frequencies, numbers redrawn.

    Each number keeps its width (realistic ids and counters change value, rarely width);
    one message in ten keeps its exact original text (exact repeats are common in real
    logs: heartbeats, retries).
    """
    rng = random.Random(seed)
    digits = re.compile(r"\d+")

    def redraw(m: re.Match[str]) -> str:
        w = len(m.group())
        return str(rng.randrange(10 ** (w - 1) if w > 1 else 0, 10**w))

    out = []
    for _ in range(n):
        c = contents[rng.randrange(len(contents))]
        out.append(c if rng.random() < 0.1 else digits.sub(redraw, c))
    return out


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# Leave-one-system-out: every choice below is scored on every system once; for each system
# the choice with the best mean GA on the other 11 (GA to three decimals: a difference under
# one line in a thousand is a tie; then PA, then the generalisation rules on, then the
# earlier in the list) is scored on it. The defaults come first. Rules: "on" (empty values,
# prefix keys), "off", "lists" (on, and value lists of any length collapsed), "names" (on,
# and a few digits ending a word kept as part of the name: eth0, BIOS-e820).
_OFF = {"empty_values": False, "prefix_keys": False, "collapse_lists": False, "glued_names": False}
_ON = {**_OFF, "empty_values": True, "prefix_keys": True}
_RULES: dict[str, dict[str, bool]] = {
    "on": _ON,
    "off": _OFF,
    "lists": {**_ON, "collapse_lists": True},
    "names": {**_ON, "glued_names": True},
}
OUR_CHOICES: list[dict[str, Any]] = [
    {"similarity": sim, "min_variants": mv, **_RULES[rules]}
    for rules in ("names", "on", "off", "lists")
    for sim in (0.6, 0.5, 0.4)
    for mv in (4, 3, 2)
]
DRAIN3_CHOICES: list[dict[str, Any]] = [{"sim_th": sim} for sim in (0.4, 0.3, 0.5, 0.6)]


def _choice_text(choice: dict[str, Any]) -> str:
    if "sim_th" in choice:
        return f"sim_th={choice['sim_th']}"
    rules = next(name for name, r in _RULES.items() if all(choice[k] == v for k, v in r.items()))
    rules = f"rules {rules}"
    return f"sim={choice['similarity']} mv={choice['min_variants']} {rules}"


def leave_one_out(
    scores: list[dict[str, tuple[float, float]]], choices: Sequence[dict[str, Any]]
) -> dict[str, tuple[int, float]]:
    """Per system: the choice picked on the other systems, and its GA on this one.

    ``scores[c][system]`` is (GA, PA) of choice ``c`` on ``system``.
    """
    systems = list(scores[0])
    out = {}
    for held in systems:
        rest = [name for name in systems if name != held]

        def key(c: int, rest: list[str] = rest) -> tuple[float, float, bool, int]:
            ga = sum(scores[c][n][0] for n in rest) / len(rest)
            pa = sum(scores[c][n][1] for n in rest) / len(rest)
            return (round(ga, 3), round(pa, 6), bool(choices[c].get("empty_values")), -c)

        best = max(range(len(choices)), key=key)
        out[held] = (best, scores[best][held][0])
    return out


def loso_table(data: dict[str, tuple[list[str], list[str]]]) -> None:
    """Print the leave-one-system-out table: ours and drain3, each choosing with 11."""
    ours_scores = grid(data, [lambda c, o=o: ours(c, **o) for o in OUR_CHOICES])
    drain_scores = grid(data, [drain3_labeller(False, **o) for o in DRAIN3_CHOICES])
    mine = leave_one_out(ours_scores, OUR_CHOICES)
    theirs = leave_one_out(drain_scores, DRAIN3_CHOICES)
    print(f"\nleave-one-system-out: each system scored with the choice made on the other "
          f"{len(data) - 1} ({len(OUR_CHOICES)} choices for ours, {len(DRAIN3_CHOICES)} for drain3)")  # fmt: skip
    print(
        f"{'held out':<12} | {'ours: chosen on the rest':<32}{'GA':>6} | {'drain3: chosen':<16}{'GA':>6}"
    )
    for name in data:
        (c, ga), (d, dga) = mine[name], theirs[name]
        print(f"{name:<12} | {_choice_text(OUR_CHOICES[c]):<32}{ga:>6.3f} |"
              f" {_choice_text(DRAIN3_CHOICES[d]):<16}{dga:>6.3f}")  # fmt: skip
    mean = sum(ga for _, ga in mine.values()) / len(mine)
    dmean = sum(ga for _, ga in theirs.values()) / len(theirs)
    low = min(ga for _, ga in mine.values())
    print(f"{'mean':<12} | {'':<32}{mean:>6.3f} | {'':<16}{dmean:>6.3f}")
    print(f"ours: leave-one-system-out mean GA {mean:.3f}, lowest {low:.3f}")


def grid(
    data: dict[str, tuple[list[str], list[str]]], labellers: Sequence[Labeller]
) -> list[dict[str, tuple[float, float]]]:
    out = []
    for label in labellers:
        row = {}
        for name, (contents, truth) in data.items():
            predicted = label(contents)
            row[name] = (grouping_accuracy(predicted, truth), parsing_accuracy(predicted, truth))
        out.append(row)
    return out


def accuracy_table(
    data: dict[str, tuple[list[str], list[str]]], peers: dict[str, Labeller]
) -> dict[str, list[dict[str, Any]]]:
    """Print GA, PA, FGA, templates and speed per system for each labeller."""
    totals: dict[str, list[dict[str, Any]]] = {k: [] for k in peers}
    head = f"{'system':<12}{'truth':>6} |" + "|".join(
        f" {k:<11}{'GA':>6}{'PA':>6}{'FGA':>6}{'tpl':>5}{'lines/s':>9} " for k in peers
    )
    print(head)
    print("-" * len(head))
    for name, (contents, truth) in data.items():
        row = f"{name:<12}{len(set(truth)):>6} |"
        for key, label in peers.items():
            r = measure(label, contents, truth)
            totals[key].append(r)
            row += f" {'':<11}{r['ga']:>6.3f}{r['pa']:>6.3f}{r['fga']:>6.3f}{r['n']:>5}{r['lps']:>9.0f} |"
        print(row.rstrip("|"))
    print("-" * len(head))
    row = f"{'mean':<12}{'':>6} |"
    for key in peers:
        rs = totals[key]
        means = [sum(r[m] for r in rs) / len(rs) for m in ("ga", "pa", "fga", "lps")]
        row += f" {'':<11}{means[0]:>6.3f}{means[1]:>6.3f}{means[2]:>6.3f}{'':>5}{means[3]:>9.0f} |"
    print(row.rstrip("|"))
    return totals


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--systems", default=",".join(FORMATS))
    ap.add_argument("--stream-lines", type=int, default=1_000_000)
    args = ap.parse_args(argv)
    peers: dict[str, Labeller] = {
        "ours": ours,
        "drain3": drain3_labeller(masking=False),
        "drain3+mask": drain3_labeller(masking=True),
    }
    data = {name: load_system(name, args.data) for name in args.systems.split(",")}
    totals = accuracy_table(data, peers)
    low = min(r["ga"] for r in totals["ours"])
    speed = [o["lps"] / d["lps"] for o, d in zip(totals["ours"], totals["drain3"], strict=True)]
    cold = [o["cold"] / d["cold"] for o, d in zip(totals["ours"], totals["drain3"], strict=True)]
    print(
        f"ours: lowest GA {low:.3f}; speed vs drain3 default x{min(speed):.1f} .. x{max(speed):.1f}"
    )
    print(
        "(lines/s: a fresh miner in a warm process; first runs in this process, ours vs"
        f" drain3 default: x{min(cold):.1f} .. x{max(cold):.1f})"
    )
    if len(data) > 2:
        loso_table(data)

    contents, _ = load_system("HDFS", args.data)
    stream = repetition_stream(contents, args.stream_lines)
    print(f"\nstream: {len(stream):,} HDFS messages, frequencies kept, numbers redrawn")
    rss0 = peak_rss_mb()
    for key in ("ours", "drain3"):
        start = time.perf_counter()
        n = len(set(peers[key](stream)))
        elapsed = time.perf_counter() - start
        print(
            f"  {key:<8} {len(stream) / elapsed:>10,.0f} lines/s  {n:>5} templates  ({elapsed:.1f} s)"
        )
    print(f"peak RSS {peak_rss_mb():.0f} MB (before the stream {rss0:.0f} MB; holds the stream)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

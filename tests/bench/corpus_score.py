"""Score the rule engine on the corpus of real logs (tests/corpus) and on Loghub BGL_2k.

Prints precision and recall per agent, location accuracy of error findings, the findings on
noise-only logs, and the error recall on BGL alert lines. Run:
``.venv/bin/python tests/bench/corpus_score.py [-v]``.

Matching: a label ``{agent, contains, severity?, location?}`` is found when a finding of that
agent holds every ``contains`` substring (case-insensitive) in its published text (title,
location, impact/description, root cause, fix; not the evidence lines) and, if given, has one
of the severities. A finding is a true positive when it matches an expected or an allowed
label. Location is right when the matched finding's location contains the label's location.
"""

from __future__ import annotations

import json
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from logmarketd.analysis.agents import agents
from logmarketd.analysis.analyse import inspect_log

from tests.bench.loghub import DATA

ROOT = Path(__file__).resolve().parents[1] / "corpus"
BGL = DATA / "BGL" / "BGL_2k.log"
AGENTS = tuple(a.id for a in agents())
_TEXT_FIELDS = (
    "pattern", "location", "impact", "rootCause", "suggestedFix", "issue", "optimization", "threat",
    "description", "mitigation", "area", "suggestion",
)  # fmt: skip


@dataclass
class Totals:
    expected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    found: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    findings: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    true_pos: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    loc_total: int = 0
    loc_right: int = 0
    noise_findings: int = 0
    noise_logs: int = 0
    misses: list[str] = field(default_factory=list)
    extras: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def recall(self, agent: str) -> float:
        return self.found[agent] / self.expected[agent] if self.expected[agent] else 1.0

    def precision(self, agent: str) -> float:
        return self.true_pos[agent] / self.findings[agent] if self.findings[agent] else 1.0

    @property
    def location_accuracy(self) -> float:
        return self.loc_right / self.loc_total if self.loc_total else 1.0


def findings_of(analysis: dict[str, Any]) -> list[dict[str, Any]]:
    ins = analysis["aiInsights"]
    return [
        *ins["errorPatterns"], *ins["performanceIssues"], *ins["securityConcerns"], *ins["improvementOpportunities"],
    ]  # fmt: skip


def _text(f: dict[str, Any]) -> str:
    return " ".join(str(f.get(k) or "") for k in _TEXT_FIELDS).lower()


def _matches(label: dict[str, Any], f: dict[str, Any]) -> bool:
    if f.get("agentId") != label["agent"]:
        return False
    text = _text(f)
    if not all(s.lower() in text for s in label["contains"]):
        return False
    return "severity" not in label or f.get("severity") in label["severity"]


# The corpus's splits: the logs the rules were written against ("base", labels without a
# split), and the newer logs labelled before any rule was written for them, half of them to
# tune on after their first contact ("new-tune") and half never tuned against ("new-held").
SPLITS = ("base", "new-tune", "new-held", "new2", "new3")


def split_of(labels: dict[str, Any]) -> str:
    return str(labels.get("split", "base"))


def score_corpus(root: Path = ROOT, source: str | None = None, split: str | None = None) -> Totals:
    """Every labelled log (of ``split``, default all) analysed as its label's source, or as
    ``source`` for all (what a log sent with the wrong ``--source``, or tailed as ``runtime``,
    is found to hold)."""
    t = Totals()
    for label_file in sorted((root / "labels").glob("*.json")):
        name = label_file.stem
        labels = json.loads(label_file.read_text("utf-8"))
        if split is not None and split_of(labels) != split:
            continue
        log = root / "logs" / f"{name}.log"
        for lab in labels["expect"]:
            t.expected[lab["agent"]] += 1
        if not log.exists():
            t.misses.extend(
                f"{name}: log missing ({lab['agent']} {lab['contains']})"
                for lab in labels["expect"]
            )
            continue
        start = time.perf_counter()
        declared = source or labels["source"]
        report = inspect_log(log.read_text("utf-8", "replace"), declared).report()
        t.seconds += time.perf_counter() - start
        found = findings_of(report.analysis.model_dump(mode="json", by_alias=True))
        if labels.get("noise"):
            t.noise_logs += 1
            t.noise_findings += len(found)
        for lab in labels["expect"]:
            matching = [f for f in found if _matches(lab, f)]
            # of several findings that match, the one at the expected place answers the label
            placed = [
                f
                for f in matching
                if lab.get("location", "").lower() in str(f.get("location") or "").lower()
            ]
            hit = (placed or matching)[0] if matching else None
            if hit is None:
                t.misses.append(f"{name}: missed {lab['agent']} {lab['contains']}")
                continue
            t.found[lab["agent"]] += 1
            if lab["agent"] == "error-detective" and "location" in lab:
                t.loc_total += 1
                if lab["location"].lower() in str(hit.get("location") or "").lower():
                    t.loc_right += 1
                else:
                    t.misses.append(
                        f"{name}: location {hit.get('location')!r}, expected {lab['location']!r}"
                    )
        for f in found:
            agent = str(f.get("agentId"))
            t.findings[agent] += 1
            if any(_matches(lab, f) for lab in [*labels["expect"], *labels.get("allow", [])]):
                t.true_pos[agent] += 1
            else:
                title = f.get("pattern") or f.get("issue") or f.get("threat") or f.get("area")
                t.extras.append(f"{name}: unexpected {agent} [{f.get('severity')}] {title}")
    return t


def bgl_recall(path: Path = BGL) -> tuple[float, float, int] | None:
    """Share of BGL alert lines inside an error finding, share of normal lines inside one, alerts."""
    if not path.exists():
        return None
    text = path.read_text("utf-8", "replace")
    lines = text.split("\n")
    alerts = {i for i, line in enumerate(lines) if line and not line.startswith("- ")}
    normal = {i for i, line in enumerate(lines) if line.startswith("- ")}
    report = inspect_log(text, "runtime").report()
    covered: set[int] = set()
    for f in report.findings:
        if f.kind == "error":
            covered.update(f.lines)
    return len(alerts & covered) / len(alerts), len(normal & covered) / len(normal), len(alerts)


def _table(t: Totals) -> None:
    print(f"  {'agent':22} {'precision':>9} {'recall':>7} {'findings':>8} {'expected':>8}")
    for a in AGENTS:
        print(
            f"  {a:22} {t.precision(a):9.3f} {t.recall(a):7.3f} {t.findings[a]:8d} {t.expected[a]:8d}"
        )
    found, expected = sum(t.found.values()), sum(t.expected.values())
    right, total = sum(t.true_pos.values()), sum(t.findings.values())
    print(
        f"  {'all':22} {right / max(total, 1):9.3f} {found / max(expected, 1):7.3f} {total:8d} {expected:8d}"
    )
    print(f"  error location accuracy: {t.location_accuracy:.3f} ({t.loc_right}/{t.loc_total})")
    print(f"  noise-only logs: {t.noise_logs}, findings on them: {t.noise_findings}")


def main(argv: list[str]) -> int:
    """Per split: precision and recall per agent. ``-v``: the misses and false alarms, of
    every split but new-held unless ``--show-held`` (what is never tuned against is not read).
    ``--tuning``: leave new-held out altogether (not even its figures move a rule)."""
    tuning = "--tuning" in argv
    for split in SPLITS:
        if tuning and split == "new-held":
            continue
        t = score_corpus(split=split)
        if not sum(t.expected.values()) and not t.noise_logs:
            continue
        print(f"split {split} ({t.seconds * 1000:.0f} ms of analysis):")
        _table(t)
        if "-v" in argv and (split != "new-held" or "--show-held" in argv):
            for line in t.misses + t.extras:
                print("    " + line)
    bgl = bgl_recall()
    if bgl:
        print(
            f"BGL_2k: error recall on {bgl[2]} alert lines {bgl[0]:.3f}; normal lines flagged {bgl[1]:.3f} (reference: 0)"
        )
    if tuning:
        return 0
    print("declared as one source for every log (the labels' source ignored), all splits:")
    print(f"{'source':10} {'recall':>7} {'precision':>9} {'noise findings':>15}")
    for src in ("build", "test", "deploy", "runtime"):
        w = score_corpus(source=src)
        found, expected = sum(w.found.values()), sum(w.expected.values())
        right, total = sum(w.true_pos.values()), sum(w.findings.values())
        print(
            f"{src:10} {found / expected:7.3f} {right / max(total, 1):9.3f} {w.noise_findings:15d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

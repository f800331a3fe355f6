"""Scores of real logs, through the agents: what a finding carries (a real location, a cause
and a fix naming the log's own content) is what scores, not the number of findings."""

from __future__ import annotations

from logmarketd.analysis.analyse import inspect_log, names_the_log, real_location
from logmarketd.samples import SAMPLES
from logmarketd.settings import Settings

from tests.conftest import REPO

SAMPLE = {name: (source, content) for name, source, content in SAMPLES}
CORPUS = REPO / "tests" / "corpus" / "logs"
AUTO_PAY = Settings().auto_pay_threshold


def _sample(name: str):  # type: ignore[no-untyped-def]
    source, content = SAMPLE[name]
    return inspect_log(content, source)


def test_one_critical_go_panic_outvalues_one_outage_reported_three_ways() -> None:
    """One critical Go panic, located and evidenced, is auto-payable; one database outage
    that three rules report (a failed health check, its 30 s wait, the driver's timeout) is
    one failure with a stock fix: worth less, and left to review."""
    panic = inspect_log((CORPUS / "go_panic.log").read_text(), "runtime").analysis()
    outage = _sample("deploy-healthcheck.log")
    assert len(outage.scored) == 3
    assert panic.value_score > AUTO_PAY
    assert outage.analysis().value_score <= AUTO_PAY
    assert panic.value_score > outage.analysis().value_score


def test_the_heartbeat_sample_earns_no_uniqueness() -> None:
    """A log with no finding gets no uniqueness credit, whatever its line shapes."""
    heartbeat = _sample("runtime-heartbeat.log")
    assert not heartbeat.scored
    assert heartbeat.analysis().quality.uniqueness == 0


def test_stock_and_specific_fixes_are_told_apart() -> None:
    """A fix naming what this log holds (a file position, a function) is specific; the
    rule's constant advice is stock, and so is a root cause that only restates the rule."""
    gcc = _sample("build-gcc-error.log")
    err = next(f for f in gcc.scored if f.kind == "error")
    assert err.specific_fix and err.specific_cause and err.has_location
    outage = _sample("deploy-healthcheck.log")
    health = next(f for f in outage.scored if f.kind == "error")
    assert health.has_fix and not health.specific_fix  # "Check the service's startup log ..."
    assert health.has_root_cause and not health.specific_cause  # "health check failed"
    slow = [f for f in outage.scored if f.kind == "performance"]
    assert slow and not any(f.specific_fix for f in slow)
    assert not any(f.has_location for f in slow)  # a masked log line is no location


def test_a_measured_slow_operation_sets_the_speed_potential() -> None:
    """The outage log's 30 s health check against its 5 s threshold is the speed potential."""
    p = _sample("deploy-healthcheck.log").analysis().improvement_potential
    assert p.development_speed.current == 30.0 and p.development_speed.potential == 5.0


def test_real_locations() -> None:
    """A file position, a test id, a route, a URL or an address is a location; a line number
    of the log, a placeholder or a bare word is not."""
    for loc in ("eval.c:97:21", "/srv/app/api/repo.py:131 in insert", "ci.sh:5",
                "tests/test_report.py::test_render_summary", "0002_add.sql near line 3",
                "GET /health", "http://10.0.4.12:8080/healthz", "198.51.100.23",
                "127.0.0.1:18431"):  # fmt: skip
        assert real_location(loc), loc
    for loc in (None, "", "line 6", "unknown", "api", "process memory",
                "deploy: GET http://<ip>/healthz returned <n> after <n> ms"):  # fmt: skip
        assert not real_location(loc), loc


def test_names_the_log() -> None:
    """Text names the log when it quotes an identifier-like token of the covered lines."""
    lines = ["eval.c:97:21: error: 'struct frame' has no member named 'locals'",
             '  File "/srv/app/api/repo.py", line 131, in insert']  # fmt: skip
    assert names_the_log("Fix the code at eval.c:97:21: ...", lines)
    assert names_the_log("'struct frame' has no member named 'locals'", lines)
    assert names_the_log("Handle it in insert() at api/repo.py:131.", lines)
    assert not names_the_log("Profile this operation and remove the bottleneck.", lines)
    assert not names_the_log("Upgrade log4j to 2.17+ (or remove JndiLookup).", lines)
    assert not names_the_log("no member named", lines)  # words, not an identifier
    assert not names_the_log(None, lines)
    java = ["at org.apache.logging.log4j.core.Logger.log(Logger.java:12)"]
    assert not names_the_log("Upgrade log4j to 2.17+.", java)  # a part of a name is no name


def test_shipped_samples_value_order() -> None:
    """Figures of the shipped samples: the attacks log is worth the most, a heartbeat least."""
    values = {n: _sample(n).analysis().value_score for n in SAMPLE}
    assert values["runtime-heartbeat.log"] < 15
    assert max(values, key=values.__getitem__) == "runtime-nginx-attacks.log"

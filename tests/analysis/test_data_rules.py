"""Rules as data: a TOML pack is parsed, checked against its own examples, and its rules make
ordinary findings (titles from captures, stable fingerprints, counts per key)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from logmarketd.analysis.agents import run_agents
from logmarketd.analysis.agents.base import AgentConfig, Context
from logmarketd.analysis.rules import (
    Rule,
    RuleBook,
    RuleError,
    check_rule,
    load_rules,
    parse_pack,
    run_rules,
    shipped_packs,
    use_dir,
)

DEADLOCK = """
[[rule]]
id = "my-deadlock"
agent = "error-detective"
severity = "high"
title = "deadlock detected on {table}"
detail = "Two transactions waited on each other over {table}."
fix = "Take the locks of {table} in one order."
keywords = ["deadlock detected"]
examples = ['ERROR:  deadlock detected while updating table "orders"']
counter_examples = ["LOG:  checking for deadlock detected none"]

[rule.line]
regex = 'deadlock detected while updating table "(?P<table>\\w+)"'
"""

SSHD = """
[[rule]]
id = "sshd-fail"
agent = "security-guardian"
severity = "high"
title = "{count} failed ssh logins from {key}"
keywords = ["failed password"]
examples = ['''
sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2
sshd[1]: Failed password for root from 203.0.113.9 port 2 ssh2
sshd[1]: Failed password for root from 203.0.113.9 port 3 ssh2
''']
counter_examples = ['''
sshd[1]: Failed password for root from 203.0.113.9 port 1 ssh2
sshd[1]: Failed password for root from 203.0.113.9 port 2 ssh2
''']

[rule.count]
regex = 'Failed password for \\S+ from (?P<key>[\\d.]+)'
threshold = 3
"""


def one(text: str) -> Rule:
    rules = parse_pack(text, "test.toml")
    assert len(rules) == 1
    return rules[0]


def findings(rule: Rule, log: str, source: str = "runtime") -> list:  # type: ignore[type-arg]
    return run_rules((rule,), Context(log, source))


# -- the loader refuses what it cannot use, naming the file and the rule ------------------


def test_bad_toml_is_refused_naming_the_file() -> None:
    with pytest.raises(RuleError, match=r"broken\.toml.*TOML"):
        parse_pack("[[rule]\nid = ", "broken.toml")


def test_an_unknown_agent_is_refused_naming_the_rule() -> None:
    with pytest.raises(RuleError, match=r"test\.toml: rule 'my-deadlock'.*agent 'error-detector'"):
        parse_pack(DEADLOCK.replace('"error-detective"', '"error-detector"'), "test.toml")


def test_a_bad_regex_is_refused() -> None:
    with pytest.raises(RuleError, match=r"rule 'my-deadlock'.*regex"):
        parse_pack(DEADLOCK.replace("(?P<table>\\w+)", "(?P<table>\\w+"), "test.toml")


def test_a_rule_without_examples_is_refused() -> None:
    text = DEADLOCK.replace(
        "examples = ['ERROR:  deadlock detected while updating table \"orders\"']\n", ""
    )
    with pytest.raises(RuleError, match=r"rule 'my-deadlock'.*examples"):
        parse_pack(text, "test.toml")


def test_a_rule_without_counter_examples_is_refused() -> None:
    text = DEADLOCK.replace('counter_examples = ["LOG:  checking for deadlock detected none"]', "")
    with pytest.raises(RuleError, match=r"rule 'my-deadlock'.*counter_examples"):
        parse_pack(text, "test.toml")


def test_a_title_naming_a_capture_the_regex_lacks_is_refused() -> None:
    with pytest.raises(RuleError, match=r"rule 'my-deadlock'.*\{relation\}"):
        parse_pack(DEADLOCK.replace("on {table}", "on {relation}"), "test.toml")


def test_an_unknown_key_is_refused() -> None:
    with pytest.raises(RuleError, match=r"rule 'my-deadlock'.*severty"):
        parse_pack(DEADLOCK.replace('severity = "high"', 'severty = "high"'), "test.toml")


def test_a_rule_needs_exactly_one_match() -> None:
    text = DEADLOCK + "\n[rule.count]\nregex = '(?P<key>x)'\nthreshold = 2\n"
    with pytest.raises(RuleError, match=r"rule 'my-deadlock'.*one of"):
        parse_pack(text, "test.toml")


def test_a_failing_example_names_the_rule_and_the_example() -> None:
    rule = one(DEADLOCK.replace('table "orders"', "relation orders"))
    failures = check_rule(rule)
    assert failures and all("my-deadlock" in f for f in failures)
    assert "example 1 makes no finding" in failures[0]


def test_a_counter_example_that_matches_fails_the_rule() -> None:
    rule = one(DEADLOCK.replace('"LOG:  checking for deadlock detected none"',
                                "'deadlock detected while updating table \"t\"'"))  # fmt: skip
    assert any("counter-example 1 makes a finding" in f for f in check_rule(rule))


def test_load_rules_refuses_a_pack_whose_examples_fail(tmp_path: Path) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text(DEADLOCK.replace('table "orders"', "relation orders"))
    with pytest.raises(RuleError, match=r"mine\.toml: rule 'my-deadlock': example 1"):
        load_rules([bad])


def test_the_same_rule_id_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(DEADLOCK)
    (tmp_path / "b.toml").write_text(DEADLOCK)
    with pytest.raises(RuleError, match=r"b\.toml: rule 'my-deadlock'.*a\.toml"):
        load_rules(sorted(tmp_path.glob("*.toml")))


# -- what a rule finds ----------------------------------------------------------------


def test_a_title_and_fix_are_filled_from_named_captures() -> None:
    (f,) = findings(
        one(DEADLOCK), 'x\n2024-05-01 ERROR:  deadlock detected while updating table "orders"\n'
    )
    assert f.title == "deadlock detected on orders"
    assert f.fix == "Take the locks of orders in one order."
    assert f.kind == "error" and f.severity == "high"
    assert f.lines == [1] and f.location is None  # no capture: the finding names no place


def test_a_captured_location_is_the_findings_location() -> None:
    text = DEADLOCK.replace("regex = '", "regex = '(?P<location>[\\w/.]+:\\d+): .*").replace(
        "examples = ['ERROR:", "examples = ['db/tx.py:42: ERROR:"
    )
    (f,) = findings(one(text), 'db/tx.py:42: ERROR:  deadlock detected while updating table "a"')
    assert f.location == "db/tx.py:42"


def test_the_ignore_regex_drops_a_line() -> None:
    text = DEADLOCK.replace("[rule.line]\n", "[rule.line]\nignore = 'retrying'\n")
    rule = one(text)
    assert findings(rule, 'deadlock detected while updating table "a", retrying') == []
    assert len(findings(rule, 'deadlock detected while updating table "a"')) == 1


def test_the_same_issue_with_other_values_has_the_same_fingerprint() -> None:
    rule = one(SSHD)
    a = "\n".join(
        f"sshd[9]: Failed password for root from 198.51.100.7 port {p} ssh2" for p in range(4)
    )
    b = "\n".join(
        f"sshd[3]: Failed password for admin from 192.0.2.200 port {p} ssh2" for p in range(9)
    )
    (fa,), (fb,) = findings(rule, a), findings(rule, b)
    for f in (fa, fb):
        f.agent_id = "security-guardian"
    assert fa.fingerprint == fb.fingerprint
    d1 = findings(one(DEADLOCK), 'deadlock detected while updating table "orders"')[0]
    d2 = findings(one(DEADLOCK), 'deadlock detected while updating table "users"')[0]
    assert d1.key != d2.key  # another table is another issue


def test_matches_of_one_issue_merge_into_one_finding() -> None:
    log = 'deadlock detected while updating table "a"\nok\ndeadlock detected while updating table "a"\n'
    (f,) = findings(one(DEADLOCK), log)
    assert f.count == 2 and f.lines == [0, 2]


def test_a_count_rule_fires_at_its_threshold_per_key() -> None:
    rule = one(SSHD)
    lines = [f"sshd[1]: Failed password for root from 203.0.113.9 port {p} ssh2" for p in range(3)]
    lines += [
        f"sshd[1]: Failed password for root from 198.51.100.1 port {p} ssh2" for p in range(2)
    ]
    (f,) = findings(rule, "\n".join(lines))
    assert f.title == "3 failed ssh logins from 203.0.113.9"
    assert f.count == 3 and f.lines == [0, 1, 2]
    assert f.location == "203.0.113.9"
    assert findings(rule, "\n".join(lines[:2] + lines[3:])) == []


def test_a_count_key_an_earlier_detector_reported_is_left_to_it() -> None:
    rule = one(SSHD)
    lines = [f"sshd[1]: Failed password for root from 203.0.113.9 port {p} ssh2" for p in range(4)]
    ctx = Context("\n".join(lines), "runtime")
    ctx.claimed.add(0)  # an earlier detector's finding covers one line of this address
    assert run_rules((rule,), ctx) == []


def test_a_match_capturing_an_allowlisted_address_is_dropped() -> None:
    rule = one(SSHD)
    log = "\n".join(
        f"sshd[1]: Failed password for root from 203.0.113.9 port {p} ssh2" for p in range(5)
    )
    allow = AgentConfig(allow_addresses=frozenset({"203.0.113.9"}))
    assert len(findings(rule, log)) == 1
    assert run_rules((rule,), Context(log, "runtime", allow)) == []


def test_a_block_rule_covers_its_lines_from_start_to_end() -> None:
    rule = one("""
[[rule]]
id = "jvm-deadlock"
agent = "error-detective"
severity = "critical"
title = "Java deadlock between {a} and {b}"
keywords = ["found one java-level deadlock"]
examples = ['''
Found one Java-level deadlock:
=============================
"worker-1":
  waiting to lock monitor 0x1, which is held by "worker-2"
"worker-2":
  waiting to lock monitor 0x2, which is held by "worker-1"
Found 1 deadlock.
''']
counter_examples = ["Found one Java-level deadlock: (none)"]

[rule.block]
start = '^Found one Java-level deadlock:$'
end = '^Found (?P<n>\\d+) deadlocks?\\.$'
max_lines = 40
[rule.block.captures]
a = '^"(?P<a>[^"]+)":'
b = 'held by "(?P<b>[^"]+)"'
""")
    assert check_rule(rule) == []
    log = "start\n" + rule.examples[0].strip() + "\nafter\n"
    (f,) = findings(rule, log)
    assert f.title == "Java deadlock between worker-1 and worker-2"
    assert f.lines == list(range(1, 8))


def test_sources_limit_a_rule() -> None:
    rule = one(DEADLOCK.replace('severity = "high"', 'severity = "high"\nsources = ["runtime"]'))
    log = 'deadlock detected while updating table "a"'
    assert len(findings(rule, log, "runtime")) == 1
    assert findings(rule, log, "build") == []


def test_priority_decides_which_rule_takes_a_line() -> None:
    low = one(DEADLOCK)
    high = one(DEADLOCK.replace('"my-deadlock"', '"any-deadlock"').replace(
        'severity = "high"', 'severity = "medium"\npriority = 5'))  # fmt: skip
    (f,) = run_rules((low, high), Context('deadlock detected while updating table "a"', "runtime"))
    assert f.key.startswith("rule:any-deadlock")


# -- the rules in the agents ----------------------------------------------------------


@pytest.fixture
def rules_dir(tmp_path: Path) -> Iterator[Path]:
    use_dir(tmp_path)
    try:
        yield tmp_path
    finally:
        use_dir(None)


def test_a_user_rule_makes_a_finding_of_its_agent(rules_dir: Path) -> None:
    (rules_dir / "db.toml").write_text(DEADLOCK)
    use_dir(rules_dir)
    _, found = run_agents('LOG: deadlock detected while updating table "orders"\n', "runtime")
    (f,) = [f for f in found if f.key.startswith("rule:my-deadlock")]
    assert f.agent_id == "error-detective"


def test_a_data_rule_names_the_line_before_the_generic_error_line_detector(
    rules_dir: Path,
) -> None:
    # a rule names one failure; the ERROR-line detector only says a line was logged at error
    # level, so it runs after the rules and does not repeat the line they reported
    (rules_dir / "db.toml").write_text(DEADLOCK)
    use_dir(rules_dir)
    log = '2024-05-01 10:00:00 ERROR: deadlock detected while updating table "orders"\n'
    _, found = run_agents(log, "runtime")
    assert [f.key for f in found if f.key.startswith("rule:my-deadlock")]
    assert not [f for f in found if f.key.startswith("level:")]


def test_a_specific_python_finding_wins_the_line(rules_dir: Path) -> None:
    # a Python traceback detector runs before the rules: a rule does not repeat its line
    rule = """
[[rule]]
id = "my-keyerror"
agent = "error-detective"
severity = "high"
title = "missing key {key}"
keywords = ["keyerror"]
examples = ["KeyError: 'orders'"]
counter_examples = ["no KeyError here"]
[rule.line]
regex = \'\'\'KeyError: '(?P<key>\\w+)'\'\'\'
"""
    (rules_dir / "kv.toml").write_text(rule)
    use_dir(rules_dir)
    _, alone = run_agents("KeyError: 'k'\n", "runtime")
    assert [f for f in alone if f.key.startswith("rule:my-keyerror")]  # the rule does match
    log = (
        "Traceback (most recent call last):\n"
        '  File "/srv/app/x.py", line 3, in <module>\n'
        "    d['k']\n"
        "KeyError: 'k'\n"
    )
    _, found = run_agents(log, "runtime")
    assert [f for f in found if f.kind == "error" and not f.key.startswith("rule:")]
    assert not [f for f in found if f.key.startswith("rule:my-keyerror")]


def test_use_dir_refuses_a_broken_user_pack(rules_dir: Path) -> None:
    (rules_dir / "bad.toml").write_text("[[rule]\n")
    with pytest.raises(RuleError, match=r"bad\.toml"):
        use_dir(rules_dir)


def test_a_changed_pack_is_reloaded_and_a_broken_one_keeps_the_previous_rules(
    tmp_path: Path,
) -> None:
    book = RuleBook(tmp_path, check_every=0.0)
    assert not [r for r in book.rules_for("error-detective") if r.id == "my-deadlock"]
    pack = tmp_path / "db.toml"
    pack.write_text(DEADLOCK)
    book.refresh()
    assert [r.id for r in book.rules_for("error-detective") if r.id == "my-deadlock"]
    pack.write_text(DEADLOCK.replace("(?P<table>\\w+)", "(?P<table>\\w+"))
    st = pack.stat()
    os.utime(pack, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    book.refresh()
    assert book.error is not None and "db.toml" in book.error
    assert [r.id for r in book.rules_for("error-detective") if r.id == "my-deadlock"]
    pack.unlink()
    book.refresh()
    assert book.error is None
    assert not [r for r in book.rules_for("error-detective") if r.id == "my-deadlock"]


# -- the shipped packs prove their own examples ---------------------------------------

SHIPPED = load_rules(shipped_packs())


def test_the_shipped_packs_hold_at_least_fifteen_rules_for_all_four_agents() -> None:
    assert len(SHIPPED) >= 15
    assert {r.agent for r in SHIPPED} == {
        "error-detective", "performance-analyzer", "security-guardian", "quality-inspector"
    }  # fmt: skip


@pytest.mark.parametrize("rule", SHIPPED, ids=lambda r: r.id)
def test_shipped_rule_examples(rule: Rule) -> None:
    assert check_rule(rule) == []

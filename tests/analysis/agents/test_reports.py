"""Reports in a log that are findings themselves: SARIF results and JUnit XML failed cases,
one finding each, through the real agents; their own lines read by no generic detector."""

from __future__ import annotations

import json

from logmarketd.analysis.agents import agents
from logmarketd.analysis.agents.base import Context, Finding


def run_all(text: str, source: str = "build") -> list[Finding]:
    ctx = Context(text, source)
    return [f for a in agents() for f in a.run(ctx)]


def sarif(results: list[dict], rules: list[dict], tool: str) -> str:
    doc = {
        "version": "2.1.0",
        "runs": [{"tool": {"driver": {"name": tool, "rules": rules}}, "results": results}],
    }
    return json.dumps(doc, indent=2)


def result(rule: str, index: int, message: str, uri: str, line: int, level: str) -> dict:
    return {
        "ruleId": rule,
        "ruleIndex": index,
        "level": level,
        "message": {"text": message},
        "locations": [
            {"physicalLocation": {"artifactLocation": {"uri": uri}, "region": {"startLine": line}}}
        ],
    }


SEMGREP_LIKE = sarif(
    [
        result("py.sqli", 0, "User input reaches a SQL query", "src/db.py", 41, "error"),
        result("py.naming", 1, "Function name should be snake_case", "src/db.py", 7, "note"),
    ],
    [
        {
            "id": "py.sqli",
            "properties": {"tags": ["security", "CWE-89"], "security-severity": "9.8"},
            "fullDescription": {"text": "ERROR: never do this: password = os.environ['PW']"},
        },
        {"id": "py.naming", "properties": {"tags": ["style"]}},
    ],
    "scanner",
)


def test_each_sarif_result_is_one_finding_of_the_right_agent() -> None:
    found = run_all("$ scan --format sarif src\n" + SEMGREP_LIKE + "\nscan: done\n")
    by_agent = {(f.agent_id, f.location): f for f in found}
    sqli = by_agent[("security-guardian", "src/db.py:41")]
    # its level (error) says high; the 9.8 the report claims is the contributor's text and
    # raises nothing, while a low score lowers (below)
    assert sqli.severity == "high"
    assert "User input reaches a SQL query" in sqli.title
    naming = by_agent[("quality-inspector", "src/db.py:7")]
    assert naming.severity == "low" and naming.kind == "improvement"
    # the rule's documentation quotes an ERROR line and a password assignment: neither is
    # something the log says happened
    assert sorted(by_agent) == [
        ("quality-inspector", "src/db.py:7"),
        ("security-guardian", "src/db.py:41"),
    ]
    # the finding cites the line its message is written on
    lines = ("$ scan --format sarif src\n" + SEMGREP_LIKE).split("\n")
    assert "User input reaches a SQL query" in lines[sqli.lines[0]]


def test_a_security_score_in_the_report_lowers_its_severity_and_never_raises_it() -> None:
    rules = [{"id": "x", "properties": {"tags": ["security"], "security-severity": "2.0"}}]
    low = sarif([result("x", 0, "weak hash", "a.py", 3, "error")], rules, "scanner")
    assert [f.severity for f in run_all(low) if f.agent_id == "security-guardian"] == ["low"]
    rules[0]["properties"]["security-severity"] = "10.0"
    note = sarif([result("x", 0, "weak hash", "a.py", 3, "note")], rules, "scanner")
    assert [f.severity for f in run_all(note) if f.agent_id == "security-guardian"] == ["low"]


def test_a_broken_or_foreign_json_object_is_no_report() -> None:
    text = '{"runs": [1, 2,\nERROR: disk full on /var\n{"runs": "fast"}\n'
    found = run_all(text, "runtime")
    assert [f.agent_id for f in found] == ["error-detective"]
    assert "disk full" in found[0].title


SUREFIRE = """\
<?xml version="1.0" encoding="UTF-8"?>
<testsuite name="com.acme.CartTest" tests="2" failures="1" errors="1">
  <testcase name="addsTax" classname="com.acme.CartTest" time="0.01">
    <failure message="expected: &lt;10.8&gt; but was: &lt;10.0&gt;" type="org.opentest4j.AssertionFailedError">org.opentest4j.AssertionFailedError: expected: &lt;10.8&gt; but was: &lt;10.0&gt;
\tat org.junit.jupiter.api.AssertionUtils.fail(AssertionUtils.java:55)
\tat com.acme.CartTest.addsTax(CartTest.java:21)
</failure>
  </testcase>
  <testcase name="empty" classname="com.acme.CartTest" time="0.0"/>
  <testcase name="loads" classname="com.acme.CartTest" time="0.0">
    <error message="boom" type="java.lang.IllegalStateException"/>
  </testcase>
</testsuite>
"""


def test_each_failed_junit_case_is_one_finding_at_its_test_line() -> None:
    found = {f.title: f for f in run_all(SUREFIRE, "test")}
    tax = found["test failed: com.acme.CartTest.addsTax - expected: <10.8> but was: <10.0>"]
    assert tax.agent_id == "error-detective" and tax.severity == "high"
    assert tax.location == "CartTest.java:21"  # the test's frame, not the assertion library's
    assert "test failed: com.acme.CartTest.loads - boom" in found
    assert len(found) == 2  # the passing case is none, and no line of the XML is reported again


def test_a_log_of_report_openings_that_never_close_is_read_in_one_pass(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The contributor writes the text: thousands of ``"runs"`` objects and ``<testcase>``
    elements that never close must not make the reader go over the rest of the log once per
    opening (that would stall the pipeline on one crafted log). Counted, not timed: the JSON
    decodes per log are bounded (each may read to the end of the text)."""
    from logmarketd.analysis.agents import reports

    decodes = 0
    real = reports.json.JSONDecoder.raw_decode

    def counting(self, s, idx=0):  # type: ignore[no-untyped-def]
        nonlocal decodes
        decodes += 1
        return real(self, s, idx)

    monkeypatch.setattr(reports.json.JSONDecoder, "raw_decode", counting)
    text = '{"runs": [{"results": [\n' * 2000 + "<testcase name='x'><failure>\n" * 2000
    ctx = Context(text, "test")
    assert reports.junit_xml_failures(ctx) == [] and reports.sarif_security(ctx) == []
    assert decodes <= 20, decodes

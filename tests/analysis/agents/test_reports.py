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
    assert sqli.severity == "critical"  # its security-severity 9.8, not a guess
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

"""Failures read from the shapes many tools share, through the real agents: numbered failure
blocks and test status lines of runners without a detector of their own, Test::More's
diagnostics, Tcl's errorInfo, and the program's own frame of a native backtrace."""

from __future__ import annotations

from logmarketd.analysis.agents import agents
from logmarketd.analysis.agents.base import Context, Finding


def errors(text: str, source: str = "test") -> list[Finding]:
    ctx = Context(text, source)
    return [f for a in agents() for f in a.run(ctx) if f.agent_id == "error-detective"]


MINITEST = """\
  1) Failure:
SlugTest#test_strips_trailing_punctuation [test_slug.rb:10]:
Expected: "sale-today"
  Actual: "sale-today-"

  2) Error:
SlugTest#test_handles_nil_title:
NoMethodError: undefined method `downcase' for nil:NilClass
    test_slug.rb:14:in `test_handles_nil_title'

4 runs, 3 assertions, 1 failures, 1 errors, 0 skips
"""


def test_numbered_failure_blocks_are_one_finding_per_test_at_its_position() -> None:
    found = {f.title.split(" - ")[0]: f for f in errors(MINITEST)}
    assert set(found) == {
        "test failed: SlugTest#test_strips_trailing_punctuation",
        "test failed: SlugTest#test_handles_nil_title",
    }
    assert (
        found["test failed: SlugTest#test_strips_trailing_punctuation"].location
        == "test_slug.rb:10"
    )
    assert found["test failed: SlugTest#test_handles_nil_title"].location == "test_slug.rb:14"


CTEST = """\
    Start 2: roundtrip_utf8
2/3 Test #2: roundtrip_utf8 ...................***Failed    0.01 sec
tests.c:13: utf8_len("naive") returned 6, expected 5

3/3 Test #3: split_fields .....................   Passed    0.01 sec

67% tests passed, 1 tests failed out of 3

The following tests FAILED:
\t  2 - roundtrip_utf8 (Failed)
Errors while running CTest
"""


def test_a_status_line_and_the_runners_closing_list_are_one_finding() -> None:
    found = errors(CTEST)
    tests = [f for f in found if f.title.startswith("test failed")]
    assert len(tests) == 1
    assert "roundtrip_utf8" in tests[0].title and tests[0].location == "tests.c:13"
    assert 9 in tests[0].lines  # the closing list's line


def test_googletest_failed_marks_name_the_test() -> None:
    text = "[ RUN      ] Money.RoundsHalfUp\nmoney_test.cc:9: Failure\n[  FAILED  ] Money.RoundsHalfUp (0 ms)\n"
    assert any("Money.RoundsHalfUp" in f.title for f in errors(text))


def test_passing_runs_make_no_finding() -> None:
    text = "1/1 Test #1: trim_spaces ....   Passed    0.01 sec\n100% tests passed, 0 tests failed out of 1\n"
    assert errors(text) == []


def test_test_more_diagnostics_locate_a_tap_failure() -> None:
    text = (
        "#   Failed test 'rounds half up'\n#   at t/money.t line 9.\n"
        "t/money.t .. \n1..2\nok 1 - keeps cents\nnot ok 2 - rounds half up\n"
    )
    (f,) = errors(text)
    assert (f.title, f.location) == ("test failed: rounds half up", "t/money.t:9")


def test_a_tcl_error_is_located_at_its_script_line() -> None:
    text = (
        'can\'t read "cfg(port)": no such element in array\n    while executing\n'
        '"set addr $cfg(port)"\n    (procedure "connect" line 3)\n    invoked from within\n'
        '"connect cfg"\n    (file "notify.tcl" line 10)\n'
    )
    (f,) = errors(text, "runtime")
    assert "cfg(port)" in f.title and f.location == "notify.tcl:10"
    assert "connect" in (f.root_cause or "")


def test_a_crash_is_located_at_the_programs_own_frame() -> None:
    text = (
        "Program received signal SIGSEGV, Segmentation fault.\n"
        "#0  __strlen_evex () at ../sysdeps/x86_64/multiarch/strlen-evex.S:79\n"
        '#1  0x00005555555551a9 in parse_header (line=0x5 "X") at parser.c:10\n'
    )
    crash = next(f for f in errors(text, "runtime") if "Segmentation fault" in f.title)
    assert crash.location == "parser.c:10"
    assert "parse_header" in (crash.root_cause or "")


def test_a_programs_last_words_before_its_exit_status_say_why_it_failed() -> None:
    for text, said, where in (
        ("+ python3 -m json.tool deploy.json\nExpecting ',' delimiter: line 4 column 3 (char 44)\nexit status 1\n",
         "Expecting ',' delimiter", "python3 -m json.tool deploy.json"),
        ("+ sh -n rotate.sh\nrotate.sh: 7: Syntax error: end of file unexpected (expecting \"fi\")\nexit status 2\n",
         "end of file unexpected", "rotate.sh:7"),
    ):  # fmt: skip
        (f,) = errors(text, "deploy")
        assert said in f.title and f.location == where, f


def test_last_words_are_not_read_where_a_finding_explains_the_failure_or_a_signal_killed_it() -> (
    None
):
    explained = "Traceback (most recent call last):\n  File \"a.py\", line 1, in <module>\nKeyError: 'x'\ndone\nexit status 1\n"
    assert [f.title for f in errors(explained, "runtime")] == ["KeyError: 'x'"]
    assert [f.title for f in errors("starting ./session\nexit status: 139\n", "runtime")] == [
        "process exited with status 139"
    ]

"""The generic layers over a line's own level, through the real agents: WARN lines that name
code become quality findings, speed and capacity words become performance findings, a run's
own warnings and lines some agent already explained stay quiet; and a shell's exit status
after a crash is that crash's echo."""

from __future__ import annotations

from logmarketd.analysis.agents import agents
from logmarketd.analysis.agents.base import Context, Finding
from logmarketd.analysis.agents.leveled import locate


def run_all(text: str, source: str = "runtime") -> list[Finding]:
    ctx = Context(text, source)
    return [f for a in agents() for f in a.run(ctx)]


def of(found: list[Finding], agent: str) -> list[Finding]:
    return [f for f in found if f.agent_id == agent]


def test_locate_reads_the_common_position_shapes() -> None:
    assert locate('  File "app/models.py", line 12, in save') == "app/models.py:12"
    assert locate("    at render (src/view.js:40:7)") == "src/view.js:40"
    assert locate("lib/util.c:88:3: note: here") == "lib/util.c:88"
    assert locate("Program.cs(17,5): warning CS0168") == "Program.cs:17"
    assert locate("PHP Warning:  Undefined variable $x in /srv/index.php on line 9") is None
    assert locate("config.yaml line 3 is odd") == "config.yaml:3"
    assert locate("version 1.2.3:4 of example.com:443") is None


def test_a_warning_naming_code_is_one_quality_finding_per_template() -> None:
    text = "".join(
        f"2026-01-01 10:00:0{i} WARN [render] template pages/home{i}.tpl:4{i} uses removed filter 'raw'\n"
        for i in range(3)
    )
    found = of(run_all(text), "quality-inspector")
    assert len(found) == 1
    assert found[0].count == 3
    assert found[0].location == "pages/home0.tpl:40"
    assert "removed filter" in found[0].title


def test_a_python_warning_category_is_read() -> None:
    text = "/srv/app/io.py:31: ResourceWarning: unclosed file <_io.TextIOWrapper name='a.txt'>\n"
    found = of(run_all(text, "test"), "quality-inspector")
    assert [f.location for f in found] == ["/srv/app/io.py:31"]


def test_warnings_about_the_run_or_about_warnings_are_no_finding() -> None:
    text = (
        "2026-01-01 10:00:00,001 WARN received SIGTERM indicating exit request\n"
        "warning: You appear to have cloned an empty repository.\n"
        "src/a.c: 3 warnings generated (see src/a.c:1)\n"
        "=== warnings summary === tests/test_a.py:1\n"
    )
    assert of(run_all(text), "quality-inspector") == []


def test_speed_and_capacity_words_on_a_leveled_line_are_a_performance_finding() -> None:
    text = (
        "2026-01-01 10:00:00 WARN [pool] connection pool exhausted, 40 requests waiting\n"
        "2026-01-01 10:00:01 WARN [pool] connection pool exhausted, 41 requests waiting\n"
        "2026-01-01 10:00:02 INFO [pool] latency is fine\n"
        "slow request: GET /reports took 8123 ms\n"
    )
    found = of(run_all(text), "performance-analyzer")
    titles = sorted(f.title for f in found)
    assert any("pool exhausted" in t for t in titles)
    assert any("GET /reports" in t for t in titles)
    assert not any("latency is fine" in t for t in titles)  # INFO: no level, no "slow"
    pool = next(f for f in found if "pool exhausted" in f.title)
    assert pool.count == 2


def test_a_report_heading_is_no_slow_finding() -> None:
    text = "============================= slowest 5 durations ==============================\n"
    assert of(run_all(text, "test"), "performance-analyzer") == []


def test_a_line_another_agent_explained_is_not_reported_again() -> None:
    text = (
        "2026-01-01 10:00:00 ERROR [db] query exceeded statement timeout (10000 ms) in jobs.py:10\n"
    )
    found = run_all(text)
    assert of(found, "error-detective")  # the generic error layer reports it first
    assert of(found, "performance-analyzer") == []
    assert of(found, "quality-inspector") == []


def test_a_shells_exit_status_after_a_crash_is_that_crashs_echo() -> None:
    text = (
        "*** buffer overflow detected ***: terminated\n"
        "run.sh: line 9: 19400 Aborted                 ./session token\n"
        "exit status: 134\n"
    )
    found = of(run_all(text), "error-detective")
    assert [f.title for f in found] == ["process crashed: Aborted"]
    assert 2 in found[0].lines
    alone = of(run_all("starting ./session\nexit status: 139\n"), "error-detective")
    assert [f.title for f in alone] == ["process exited with status 139"]  # no crash before it


def test_a_generic_line_naming_what_a_specific_finding_names_beside_it_is_its_echo() -> None:
    text = (
        "2026-01-01 10:00:00 INFO starting\n"
        "Traceback (most recent call last):\n"
        '  File "/srv/app/jobs/export.py", line 12, in run\n'
        "    write(rows)\n"
        "OSError: [Errno 28] No space left on device\n"
        "2026-01-01 10:00:01 ERROR scheduler: worker for /srv/app/jobs/export.py died, will respawn\n"
    )
    found = of(run_all(text), "error-detective")
    assert [f.title for f in found] == ["OSError: [Errno 28] No space left on device"]
    assert 5 in found[0].lines


def test_two_failures_side_by_side_stay_two() -> None:
    text = (
        'rsync: [sender] change_dir "/data/site-missing" failed: No such file or directory (2)\n'
        'rsync: [sender] opendir "/data/site/private" failed: Permission denied (13)\n'
        "rsync error: some files/attrs were not transferred (see previous errors) (code 23)\n"
    )
    titles = [f.title.lower() for f in of(run_all(text), "error-detective")]
    assert any("site-missing" in t for t in titles)
    assert any("permission denied" in t for t in titles)


def test_a_warning_about_configuration_counts_without_a_file_position() -> None:
    text = (
        "[WARNING]  (4242) : config : missing timeouts for frontend 'www'.\n"
        "   | While not properly invalid, you will certainly encounter various problems\n"
    )
    (f,) = of(run_all(text), "quality-inspector")
    assert "missing timeouts" in f.title


def test_a_config_checkers_positioned_line_is_a_quality_finding() -> None:
    text = (
        "/etc/systemd/system/shop.service:4: Unknown key 'Restart' in section [Unit], ignoring.\n"
    )
    (f,) = of(run_all(text), "quality-inspector")
    assert f.location == "/etc/systemd/system/shop.service:4" and "Restart" in f.title


def test_a_header_warning_says_what_its_indented_lines_say() -> None:
    text = (
        "CMake Deprecation Warning at CMakeLists.txt:13 (cmake_policy):\n"
        "  The OLD behavior for policy CMP0011 will be removed from a future version\n"
        "  of CMake.\n\n-- Configuring done\n"
    )
    (f,) = of(run_all(text, "build"), "quality-inspector")
    assert "CMP0011" in f.title and f.location == "CMakeLists.txt:13"


def test_a_tool_calling_something_a_security_risk_is_a_security_finding_per_thing() -> None:
    text = (
        "The generated certificate uses the SHA1withRSA signature algorithm which is considered a security risk.\n"
        "The generated certificate uses a 1024-bit RSA key which is considered a security risk.\n"
        "<payments-api> uses the SHA1withRSA signature algorithm which is considered a security risk.\n"
        "Generating 1,024 bit RSA key pair and self-signed certificate (SHA1withRSA)\n"
    )
    found = of(run_all(text, "deploy"), "security-guardian")
    assert sorted(f.count for f in found) == [1, 2]  # SHA1withRSA twice, 1024-bit once
    assert not any("self-signed" in f.title for f in found)  # generating one is no failure


def test_each_deprecated_python_api_is_its_own_finding() -> None:
    text = (
        "/srv/tool.py:1: DeprecationWarning: 'cgi' is deprecated and slated for removal in Python 3.13\n"
        "  import cgi\n"
        "/srv/tool.py:4: DeprecationWarning: 'telnetlib' is deprecated and slated for removal in Python 3.13\n"
        "  import telnetlib\n"
    )
    found = of(run_all(text, "test"), "quality-inspector")
    assert sorted(f.location for f in found) == ["/srv/tool.py:1", "/srv/tool.py:4"]


def test_a_node_deprecation_is_located_at_the_apps_own_frame() -> None:
    text = (
        "(node:21990) [DEP0169] DeprecationWarning: `url.parse()` behavior is not standardized.\n"
        "    at Object.urlParse [as parse] (node:url:130:13)\n"
        "    at parseTarget (/srv/app/legacy.js:6:14)\n"
    )
    (f,) = of(run_all(text), "quality-inspector")
    assert "url.parse()" in f.title and f.location == "/srv/app/legacy.js:6:14"


def test_retries_of_one_request_path_are_one_finding() -> None:
    text = (
        "DEBUG urllib3.util.retry: Incremented Retry for (url='/v1/rates?base=USD'): Retry(total=4)\n"
        "WARNING urllib3.connectionpool: Retrying (Retry(total=4)) after connection broken by 'ReadTimeout': /v1/rates?base=USD\n"
    ) * 2
    (f,) = of(run_all(text), "performance-analyzer")
    assert f.count == 4 and "retries of /v1/rates" in f.title


def test_real_runtime_logs_warnings_are_not_read_as_code(  # Loghub's ZooKeeper and Hadoop lines
) -> None:
    text = (
        "2015-07-29 19:52:05,118 - WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@349] - "
        "caught end of stream exception\n"
        "2015-10-18 18:01:54,853 INFO [RMCommunicator Allocator] org.apache.hadoop.mapreduce.v2.app.rm."
        "RMContainerAllocator: Reduce slow start threshold not met. completedMapsForReduceSlowstart 1\n"
    )
    found = run_all(text)
    assert of(found, "quality-inspector") == []  # a Java class is no file position
    assert of(found, "performance-analyzer") == []  # the tool's own INFO says all is well
    assert locate("at NIOServerCxn.Factory:0 and Main.java:12") == "Main.java:12"


def test_linters_that_name_their_rule_in_brackets_or_first_are_read() -> None:
    text = (  # mypy (as it printed here), RuboCop, hadolint, markdownlint
        'app.py:2: error: Incompatible return value type (got "int", expected "str")  [return-value]\n'
        "Found 1 error in 1 file (checked 1 source file)\n"
        "app.rb:3:1: C: [Correctable] Style/FrozenStringLiteralComment: Missing frozen string literal comment.\n"
        "Dockerfile:3 DL3008 warning: Pin versions in apt get install.\n"
        "README.md:3 MD022/blanks-around-headings Headings should be surrounded by blank lines [Expected: 1]\n"
    )
    found = run_all(text, "build")
    codes = sorted(f.title.split(":")[0] for f in of(found, "quality-inspector"))
    assert codes == [
        "lint DL3008", "lint MD022/blanks-around-headings", "lint Style/FrozenStringLiteralComment", "lint return-value",
    ]  # fmt: skip
    assert of(found, "error-detective") == []  # a type checker's entry is not a compile error


VERDICTS = {  # each coverage tool's own verdict line, and (measured, threshold) in it
    "ERROR: Coverage for lines (45.45%) does not meet global threshold (80%)": (45.45, 80.0),
    'Jest: "global" coverage threshold for lines (80%) not met: 45.45%': (45.45, 80.0),
    "Line coverage (45.00%) is below the expected minimum coverage (80.00%).": (45.0, 80.0),
    "FAIL Required test coverage of 90% not reached. Total coverage: 45.00%": (45.0, 90.0),
    "Coverage failure: total of 45 is less than fail-under=90": (45.0, 90.0),
    "(ERROR) failed minimum line coverage (got 45.5%, minimum 80.0%)": (45.5, 80.0),
    "Rule violated for bundle app: lines covered ratio is 0.45, but expected minimum is 0.80": (
        45.0,
        80.0,
    ),
}


def test_a_coverage_tools_verdict_is_read_with_its_own_threshold() -> None:
    for line, (actual, limit) in VERDICTS.items():
        (f,) = of(run_all(line + "\n", "test"), "quality-inspector")
        assert (f.actual, f.threshold) == (actual, limit), line
    for fine in (
        "Coverage: 85% (threshold 80%)",
        "branch coverage expected 80 got 90",
        "coverage 100% of 3 files",
    ):
        assert of(run_all(fine + "\n", "test"), "quality-inspector") == [], fine


def test_a_compiler_warning_about_memory_or_format_safety_is_a_security_finding() -> None:
    text = (  # as gcc 12 printed it here
        "/tmp/w.c: In function \u2018main\u2019:\n"
        "/tmp/w.c:3:1: warning: format not a string literal and no format arguments [-Wformat-security]\n"
        "    3 | int main(int c,char**v){char b[4];printf(v[1]);return 0;}\n"
        "/tmp/w.c:5:3: warning: unused variable \u2018x\u2019 [-Wunused-variable]\n"
    )
    found = run_all(text, "build")
    (sec,) = of(found, "security-guardian")
    assert (
        sec.title.startswith("compiler security warning -Wformat-security")
        and sec.location == "/tmp/w.c:3"
    )
    assert [f.title.split(":")[0] for f in of(found, "quality-inspector")] == [
        "compiler warning -Wunused-variable"
    ]


def test_a_deprecated_key_derivation_is_a_security_risk() -> None:
    text = (
        "*** WARNING : deprecated key derivation used.\nUsing -iter or -pbkdf2 would be better.\n"
    )
    (f,) = of(run_all(text, "deploy"), "security-guardian")
    assert "deprecated key derivation" in f.title


def test_a_secret_added_in_a_diff_names_its_key() -> None:
    text = "+++ b/settings.ini\n+aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
    (f,) = of(run_all(text, "build"), "security-guardian")
    assert f.location == "aws_secret_access_key (line 2)"


def test_phps_built_in_server_lines_are_requests() -> None:
    text = (
        "".join(
            f"[Fri Dec  4 05:00:00 2026] 127.0.0.1:40000 [404]: GET {p} - No such file or directory\n"
            for p in ("/.env", "/.git/config")
        )
        + "[Fri Dec  4 05:00:00 2026] 127.0.0.1:40000 [200]: GET /index.php?id=1%27%20OR%20%271%27=%271\n"
    )
    titles = " ".join(f.title + f.detail for f in of(run_all(text), "security-guardian"))
    assert "/.env" in titles and "SQL injection" in titles

"""Header parsing: Loghub-style formats and auto-detection of the common shapes."""

from __future__ import annotations

import pytest
from logmarketd.transform.mining import HeaderParser, LogFormatError, detect_format
from logmarketd.transform.mining.headers import KNOWN_FORMATS


def test_loghub_format_cuts_fields_and_content() -> None:
    """Fields come out by name; the content is the rest of the line."""
    p = HeaderParser("<Date> <Time> <Pid> <Level> <Component>: <Content>")
    line = "081109 203615 148 INFO dfs.DataNode$PacketResponder: PacketResponder 1 terminating"
    parsed = p.parse(line)
    assert parsed.content == "PacketResponder 1 terminating"
    assert parsed.fields == {
        "Date": "081109",
        "Time": "203615",
        "Pid": "148",
        "Level": "INFO",
        "Component": "dfs.DataNode$PacketResponder",
    }


def test_optional_part_and_regex_fragments() -> None:
    """``\\[`` is a literal bracket and ``(...)?`` an optional part, as in Loghub."""
    p = HeaderParser(r"<Month> <Day> <Time> <Host> <Component>(\[<PID>\])?: <Content>")
    with_pid = p.parse("Nov  9 12:01:01 dn228 crond[2916]: (root) CMD (run-parts)")
    without = p.parse("Nov  9 12:01:01 dn228 kernel: eth0 up")
    assert (with_pid.fields["PID"], with_pid.content) == ("2916", "(root) CMD (run-parts)")
    assert "PID" not in without.fields
    assert without.content == "eth0 up"


def test_line_without_the_header_is_kept_whole() -> None:
    """A line that does not fit the format is its own content, flagged unmatched."""
    parsed = HeaderParser(r"\[<Time>\] <Content>").parse("no header here")
    assert (parsed.content, parsed.matched, parsed.fields) == ("no header here", False, {})


@pytest.mark.parametrize("bad", ["<Date> <Time>", "<Content> <Content>", "<Level> (<Content>"])
def test_bad_formats_are_clear_errors(bad: str) -> None:
    """A format without Content, with a repeated field or broken regex raises LogFormatError."""
    with pytest.raises(LogFormatError):
        HeaderParser(bad)


@pytest.mark.parametrize(
    ("lines", "name"),
    [
        (["2024-05-01 10:00:00,123 - app.db - WARNING - slow query"], "python-logging"),
        (["Dec 10 06:55:46 LabSZ sshd[24200]: Invalid user webmaster"], "syslog"),
        (
            ['1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326'],
            "apache-access",
        ),
        (["[Sun Dec 04 04:47:44 2005] [error] mod_jk child in error state 6"], "apache-error"),
        (["2015-10-18 18:01:47,978 INFO [main] org.apache.App: Created"], "iso-level-logger"),
        (["17/06/09 20:10:40 INFO spark.SecurityManager: Changing acls"], "iso-level-component"),
        (['{"ts": 1, "level": "info", "message": "user logged in"}'], "json"),
    ],
)
def test_detects_common_shapes(lines: list[str], name: str) -> None:
    """Each common header shape is recognised from a sample."""
    assert detect_format(lines * 3) == KNOWN_FORMATS[name]


def test_detect_falls_back_to_whole_lines() -> None:
    """Lines with no known header shape are taken whole."""
    assert detect_format(["just words", "more words here"]) == "<Content>"


def test_json_lines_take_the_message_field() -> None:
    """A JSON line's message becomes the content; the other keys become fields."""
    parsed = HeaderParser("json").parse('{"level": "info", "msg": "started", "n": 3}')
    assert parsed.content == "started"
    assert parsed.fields == {"level": "info", "n": "3"}
    assert not HeaderParser("json").parse("[1, 2]").matched


def test_a_format_that_swallows_the_message_is_rejected() -> None:
    """A header pattern leaving every line an empty message does not fit those lines."""
    swallowing = r'<Host> <Ident> <User> \[<Timestamp>\] "<Request>" <Status> <Size><Content>'
    lines = ['1.2.3.4 - - [10/Oct/2000:13:55:36 -0700] "GET /a.gif HTTP/1.0" 200 2326'] * 3
    assert detect_format(lines, [swallowing]) == "<Content>"
    assert (
        HeaderParser(detect_format(lines), strict=True)
        .parse(lines[0])
        .content.startswith('"GET /a.gif')
    )


def _numbered(template: str, n: int = 30) -> list[str]:
    return [template.format(i=i, t=1000 + 7 * i, w=("alpha", "beta", "gamma")[i % 3])
            for i in range(n)]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "message"),
    [
        # values, a level and a component ending in ':'
        ("0811{i:02d} 2036{i:02d} {t} INFO dfs.DataNode: Receiving {w} block", "Receiving"),
        # a '-', values, upper-case words, a level
        ("- {t} 2005.06.03 R02-M1-N{i} RAS KERNEL INFO {w} cache parity error", "{w}"),
        # words between two value columns (host, facility, state) are header too
        (
            "{t} node-{i} unix.hw state_change.unavailable 10778{t} 1 Component {w} down",
            "Component",
        ),
        # a program of one or two words before ' - '
        ("[10.30 16:49:{i:02d}] chrome.exe{s} - {w}.example.com:80 open through proxy", "{w}"),
    ],
)
def test_learned_header_ends_where_the_message_starts(template: str, message: str) -> None:
    """Without a known shape, the header is learned from the sample's columns."""
    lines = [line.replace("{s}", " *64" if i % 2 else "") for i, line in
             enumerate(_numbered(template.replace("{s}", "{{s}}")))]  # fmt: skip
    fmt = detect_format(lines)
    parser = HeaderParser(fmt, strict=True)
    for line in lines:
        parsed = parser.parse(line)
        word = message.replace("{w}", parsed.content.split()[0])
        assert parsed.matched and parsed.content.split()[0] == word, (fmt, line, parsed)


def test_a_few_lines_learn_only_their_leading_header_columns() -> None:
    """On a tiny sample a value inside the message does not pull words into the header."""
    lines = ["2024-05-01 10:00:00 Started server on port 8080 in 3 ms"]
    parsed = HeaderParser(detect_format(lines), strict=True).parse(lines[0])
    assert parsed.content == "Started server on port 8080 in 3 ms"

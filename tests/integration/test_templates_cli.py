"""``logmarket templates``: the exact JSON-lines output, stdin, headers, errors, --db."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

LINES = [
    "2024-05-01 10:00:00,001 INFO [main] app.Server: Started on port 8080",
    "2024-05-01 10:00:01,002 WARN [pool-1] app.Db: Slow query took 1200 ms",
    "2024-05-01 10:00:02,003 INFO [main] app.Server: Started on port 8081",
    "2024-05-01 10:00:03,004 WARN [pool-2] app.Db: Slow query took 900 ms",
]


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run the real command line in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "logmarket.cli", "templates", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_json_output_is_exactly_one_object_per_line(tmp_path: Path) -> None:
    """stdout holds one JSON object per input line, in order, with exactly three keys."""
    path = tmp_path / "app.log"
    path.write_text("\n".join(LINES) + "\n", encoding="utf-8")
    proc = cli(str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.splitlines()
    assert len(out) == len(LINES)
    objs = [json.loads(line) for line in out]
    assert [list(o) for o in objs] == [["line", "templateId", "template"]] * len(LINES)
    assert [o["line"] for o in objs] == [1, 2, 3, 4]
    assert objs[0]["templateId"] == objs[2]["templateId"]
    assert objs[1]["templateId"] == objs[3]["templateId"]
    assert objs[0]["templateId"] != objs[1]["templateId"]
    assert objs[0]["template"] == "Started on port <*>"  # header auto-detected and cut
    assert all(len(o["templateId"]) == 16 for o in objs)
    assert "4 lines" in proc.stderr


def test_stdin_and_whole_line_format() -> None:
    """``-`` reads stdin; ``--log-format '<Content>'`` keeps each whole line as the message."""
    proc = cli("-", "--log-format", "<Content>", "--json", stdin="\n".join(LINES) + "\n")
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 4
    assert objs[0]["template"].endswith("Started on port <*>")
    assert objs[0]["template"] != "Started on port <*>"


def test_given_log_format_cuts_the_header() -> None:
    """A Loghub-style format cuts the header off before mining."""
    lines = ["[10.30 16:49:06] chrome.exe - proxy.example.com:5070 open through proxy x HTTPS"] * 2
    fmt = r"\[<Time>\] <Program> - <Content>"
    proc = cli("-", "--log-format", fmt, "--json", stdin="\n".join(lines))
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [o["template"] for o in objs] == ["<*> open through proxy x HTTPS"] * 2


def test_missing_file_and_bad_format_are_clear_errors(tmp_path: Path) -> None:
    """An unreadable path or a format without <Content> exits 2 with a message, no output."""
    proc = cli(str(tmp_path / "nope.log"), "--json")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "cannot read" in proc.stderr
    proc = cli("-", "--log-format", "<Date> <Time>", stdin="x\n")
    assert (proc.returncode, proc.stdout) == (2, "")
    assert "no <Content>" in proc.stderr


def test_db_keeps_template_ids_across_runs(tmp_path: Path) -> None:
    """With ``--db`` a second run loads the first run's templates and keeps their ids."""
    db = str(tmp_path / "t.db")
    first = cli("-", "--db", db, "--json", stdin="\n".join(LINES[:2]) + "\n")
    second = cli("-", "--db", db, "--json", stdin="\n".join(LINES[2:]) + "\n")
    a = [json.loads(line)["templateId"] for line in first.stdout.splitlines()]
    b = [json.loads(line)["templateId"] for line in second.stdout.splitlines()]
    assert a == b


def test_the_nginx_sample_mines_to_requests_not_an_empty_template() -> None:
    """Auto-detection cuts an access log's header before the request: no line of the shipped
    nginx sample (SQL injection and Log4Shell included) gets an empty template."""
    sample = (
        Path(__file__).resolve().parents[2] / "daemon/logmarketd/samples/runtime-nginx-attacks.log"
    )
    proc = cli(str(sample), "--json")
    assert proc.returncode == 0, proc.stderr
    objs = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(objs) == 7
    assert all(o["template"].strip() for o in objs), objs
    assert all(o["template"].startswith('"GET <*>"') for o in objs), objs

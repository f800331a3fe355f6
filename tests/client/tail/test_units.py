"""The tailer's pure parts: line cutting, multiline assembly, rules, fingerprints, the
checkpoint file, target discovery, and that importing it pulls in the standard library only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from logmarket.tail.checkpoint import Checkpoint, CheckpointStore, FileMark, Intent
from logmarket.tail.discover import Finder, parse_target
from logmarket.tail.errors import CheckpointError, TargetError
from logmarket.tail.identity import FP_BYTES, head_of
from logmarket.tail.lines import INVALID, PARTIAL, SPLIT, split_lines
from logmarket.tail.multiline import Assembler
from logmarket.tail.restart import settle, snapshot
from logmarket.tail.rules import Rules, detect_source, parse_rule
from tests.integration.tail.test_harness import ROOT, tmp

__all__ = ["tmp"]


def test_split_lines_keeps_a_partial_last_line_until_flushed() -> None:
    """Complete lines come out with their end offsets; the unfinished tail waits, unless
    flushed, and then it is marked partial."""
    assert split_lines(b"ab\ncd\r\nef", 10, 100, flush=False) == (
        [("ab", 13, 0), ("cd", 17, 0)],
        7,
    )
    lines, used = split_lines(b"ab\nef", 0, 100, flush=True)
    assert lines == [("ab", 3, 0), ("ef", 5, PARTIAL)] and used == 5


def test_over_long_lines_are_split_at_character_boundaries() -> None:
    """A line over the limit becomes pieces marked split, never cutting a UTF-8 character."""
    lines, used = split_lines("héllo wörld\n".encode(), 0, 4, flush=False)
    assert "".join(t for t, _, _ in lines) == "héllo wörld"
    assert [f for _, _, f in lines] == [SPLIT, SPLIT, SPLIT, 0]
    assert used == len("héllo wörld\n".encode())
    # An over-long line with no newline yet: full pieces go, the rest waits.
    lines, used = split_lines(b"abcdefghij", 0, 4, flush=False)
    assert lines == [("abcd", 4, SPLIT), ("efgh", 8, SPLIT)] and used == 8


def test_invalid_utf8_is_replaced_and_marked() -> None:
    """Bytes that are not UTF-8 become U+FFFD; the line is flagged, nothing is dropped."""
    lines, _ = split_lines(b"\xff\xfeok\x00\nfine\n", 0, 100, flush=False)
    assert lines[0] == ("\ufffd\ufffdok\x00", 6, INVALID)
    assert lines[1] == ("fine", 11, 0)


def _assemble(text: str, **kw: object) -> list[str]:
    a = Assembler(**kw)  # type: ignore[arg-type]
    out: list[tuple[str, int, int]] = []
    a.feed([(t, i, 0) for i, t in enumerate(text.split("\n"))], out)
    a.flush(out)
    return [t for t, _, _ in out]


PY = """2024-01-01 ERROR failed
Traceback (most recent call last):
  File "x.py", line 1, in <module>
    raise ValueError("boom")
ValueError: boom

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "x.py", line 3, in <module>
KeyError: 1
2024-01-01 INFO next"""

JAVA = """2024 ERROR Foo - failed
java.lang.IllegalStateException: boom
\tat com.x.Foo.bar(Foo.java:10)
Caused by: java.io.IOException: disk
\tat com.x.Disk.write(Disk.java:5)
\t... 2 more
2024 INFO next"""

JS = """Error: boom
    at Object.<anonymous> (/app/x.js:1:7)
    at Module._compile (node:internal/modules/cjs/loader:1256:14)
next line"""

GO = """panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.main()
\t/tmp/sandbox/prog.go:8 +0x1d
exit status 2
after"""


@pytest.mark.parametrize("text", [PY, JAVA, JS, GO], ids=["python", "java", "js", "go"])
def test_stack_traces_become_one_record(text: str) -> None:
    """A Python traceback (chained too), a Java or JS stack trace and a Go panic are one
    record each; the next ordinary line starts a new one."""
    records = _assemble(text)
    lines = text.split("\n")
    assert records == ["\n".join(lines[:-1]), lines[-1]]


def test_indented_continuations_and_plain_lines() -> None:
    """Indented lines join the line above; ordinary lines stay one record each."""
    assert _assemble("a\nb\n  b1\n\tb2\nc") == ["a", "b\n  b1\n\tb2", "c"]


def test_start_pattern_decides_where_records_begin() -> None:
    """With a start pattern, only matching lines begin a record."""
    text = "[1] first\nmore\n  indented\n[2] second\nTraceback (most recent call last):"
    assert _assemble(text, start_pattern=r"\[\d+\]") == [
        "[1] first\nmore\n  indented",
        "[2] second\nTraceback (most recent call last):",
    ]


def test_multiline_limits_split_a_runaway_event() -> None:
    """An event longer than max_lines is cut; the first part is marked split."""
    a = Assembler(max_lines=3)
    out: list[tuple[str, int, int]] = []
    a.feed([("start", 1, 0)] + [(f"  {i}", 2 + i, 0) for i in range(5)], out)
    a.flush(out)
    assert [t.count("\n") + 1 for t, _, _ in out] == [3, 3]
    assert out[0][2] == SPLIT and out[1][2] == 0


def test_multiline_off_gives_one_record_per_line() -> None:
    """multiline=False: every line is its own record, indented or not."""
    assert _assemble("a\n  b", enabled=False) == ["a", "  b"]


def test_source_rules_follow_the_seed_then_overrides() -> None:
    """detectSource on the file name, then rules (first match), Sub-PKP per rule."""
    assert detect_source("/w/ci/build-42.log") == "build"
    assert detect_source("/w/pytest-output.txt") == "test"
    assert detect_source("/w/deploy.log") == "deploy"
    assert detect_source("/var/log/app.log") == "runtime"
    rules = Rules(
        (parse_rule("/srv/ci/*=build,team-ci"), parse_rule("*/payments/*=,alice")),
        default_sub_pkp_id="bob",
    )
    assert rules.labels("/srv/ci/run/app.log") == ("build", "team-ci")
    assert rules.labels("/var/payments/app.log") == ("runtime", "alice")
    assert rules.labels("/var/log/test.log") == ("test", "bob")
    with pytest.raises(TargetError):
        parse_rule("*.log=production")
    with pytest.raises(TargetError):
        parse_rule("no-equals-sign")


def test_include_and_exclude_globs() -> None:
    """Names are matched by file name, patterns with a / by path; exclude wins."""
    r = Rules(include=("*.log", "/srv/keep/*"), exclude=("*.gz", "*debug*"))
    assert r.wanted("/a/app.log") and r.wanted("/srv/keep/x.txt")
    assert not r.wanted("/a/app.txt") and not r.wanted("/a/debug.log")
    assert not Rules(exclude=("*.gz",)).wanted("/a/app.log.1.gz")


def test_fingerprint_matches_prefixes_of_the_same_content() -> None:
    """A head fingerprint matches a longer file with the same first bytes, not another."""
    h = head_of(b"line one\n")
    assert h.matches(b"line one\nline two\n") and not h.matches(b"line uno\n")
    assert not h.matches(b"line")  # shorter than the fingerprint: cannot tell, no match
    assert head_of(b"x" * 5000).length == FP_BYTES


def test_checkpoint_is_replaced_atomically(tmp: str) -> None:
    """Saving writes the whole state or nothing; a reload gives the same state back."""
    store = CheckpointStore(os.path.join(tmp, "sub", "ckpt.json"))
    assert store.load() is None
    ck = Checkpoint(next_seq=7)
    ck.files["f1"] = FileMark("f1", "/a.log", 1, 2, 10, "ab", 99, stream="/a.log")
    ck.intents[6] = Intent(6, [("f1", 50, 99)])
    store.save(ck)
    assert os.listdir(os.path.dirname(store.path)) == ["ckpt.json"]  # no temp file left
    again = store.load()
    assert again is not None and again.to_json() == ck.to_json()


def test_a_corrupt_checkpoint_is_an_error_not_a_fresh_start(tmp: str) -> None:
    """An unreadable checkpoint stops the tailer with a clear message and is kept."""
    path = os.path.join(tmp, "ckpt.json")
    for content in ("{not json", json.dumps({"version": 99})):
        with open(path, "w") as f:
            f.write(content)
        with pytest.raises(CheckpointError, match="move it away"):
            CheckpointStore(path).load()
        assert os.path.exists(path)


def test_targets_files_directories_and_globs(tmp: str) -> None:
    """A directory is walked recursively, a glob expanded, a missing file path kept."""
    for rel in ("d/a.log", "d/sub/b.log", "d/sub/c.gz", "g/x1.log", "g/x2.txt"):
        p = os.path.join(tmp, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w") as f:
            f.write("x\n")
    finder = Finder(
        [
            parse_target(os.path.join(tmp, "d")),
            parse_target(os.path.join(tmp, "g", "*.log")),
            parse_target(os.path.join(tmp, "later.log")),
        ],
        Rules(exclude=("*.gz",)),
    )
    found = sorted(os.path.relpath(p, tmp) for p in finder.scan())
    assert found == ["d/a.log", "d/sub/b.log", "g/x1.log"]
    assert sorted(finder.roots) == [
        (tmp, False),
        (os.path.join(tmp, "d"), True),
        (os.path.join(tmp, "g"), False),
    ]
    with pytest.raises(TargetError):
        parse_target("")


def test_client_import_is_standard_library_only() -> None:
    """Importing the tailer (and its CLI command) loads neither watchdog nor daemon code."""
    code = (
        "import sys, logmarket.tail, logmarket.commands.tail; "
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('watchdog', 'logmarketd', 'pydantic', 'aiohttp', 'structlog')]; print(bad)"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_a_reused_inode_under_a_gz_name_is_not_the_checkpointed_plain_file(tmp: str) -> None:
    """A plain rotation deleted while the tailer was down can leave its inode to the gzip
    copy logrotate writes next: the checkpoint's file is not followed there (its bytes would
    be read as lines), neither to resume it nor to rebuild a batch from it."""
    import gzip

    from logmarket.tail.restart import locate
    from logmarket.tail.tracker import Tracker

    gz = os.path.join(tmp, "app.log.2.gz")
    with gzip.open(gz, "wb") as f:
        f.write(b"C000001 GET /api/items/1 200 1ms\n" * 50)
    st = os.stat(gz)
    mark = FileMark(id="f1", path=os.path.join(tmp, "app.log.1"), dev=st.st_dev, ino=st.st_ino,
                    head_len=0, head="", offset=10, stream=os.path.join(tmp, "app.log"))  # fmt: skip
    ck = Checkpoint()
    ck.files[mark.id] = mark
    tracker = Tracker(ck, Rules(), lambda: Assembler(), {}, roots=[(tmp, False)])
    tf = tracker._make(mark, None)
    assert tracker._find_moved(tf, []) is False
    assert tf.fd is None
    assert locate(tracker, mark, 0, 10) is None


def test_a_compressed_copy_holding_the_freed_inode_is_found_as_the_copy(tmp: str) -> None:
    """What the deleted plain file held unread is found in its compressed copy, even when
    the copy took the plain file's inode: by its first bytes, read through gzip."""
    import gzip

    from logmarket.tail.restart import find_copy
    from logmarket.tail.tracker import Tracker

    content = b"R000001 GET /api/items/1 200 1ms\n" * 50
    gz = os.path.join(tmp, "app.log.2.gz")
    with gzip.open(gz, "wb") as f:
        f.write(content)
    st = os.stat(gz)
    head = head_of(content[:FP_BYTES])
    mark = FileMark(id="f1", path=os.path.join(tmp, "app.log.1"), dev=st.st_dev, ino=st.st_ino,
                    head_len=head.length, head=head.digest, offset=100,
                    stream=os.path.join(tmp, "app.log"))  # fmt: skip
    ck = Checkpoint()
    ck.files[mark.id] = mark
    tracker = Tracker(ck, Rules(), lambda: Assembler(), {}, roots=[(tmp, False)])
    found = find_copy(tracker, mark, 100, 200)
    assert found is not None
    path, fd, _, is_gz = found
    assert (path, is_gz) == (gz, True)
    assert os.pread(fd, 33, 0) == content[:33]
    os.close(fd)


def test_settle_waits_for_a_rotation_to_finish_but_not_for_a_live_log(tmp_path: Path) -> None:
    """After a restart the tailer judges names and first bytes only once no rotation moves
    them: a rotated copy still growing (a ``.gz`` being compressed) or a name changing keeps
    it waiting; the live log growing does not."""
    live, rotated = tmp_path / "app.log", tmp_path / "app.log.2.gz"
    live.write_text("a\n")
    rotated.write_bytes(b"x")
    roots = [(str(tmp_path), False)]
    steps = iter(range(100))

    def rotate_for_three_looks(_: float) -> None:
        n = next(steps)
        with open(live, "a") as f:
            f.write("more\n")  # always: the app writes on
        if n < 3:
            with open(rotated, "ab") as f:
                f.write(b"x")  # compressing still
        if n == 3:
            os.rename(rotated, tmp_path / "app.log.3.gz")  # the next rotation shifts it

    got = settle(roots, quiet=0, limit=5, sleep=rotate_for_three_looks)
    assert next(steps) == 5  # looked 5 times: 3 growing, 1 renamed, then 1 still
    assert got == snapshot(roots) and str(tmp_path / "app.log.3.gz") in got

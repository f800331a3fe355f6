"""The miner: exact repeats, neutral masks, variant evidence, eviction, digests."""

from __future__ import annotations

import tracemalloc

from logmarketd.transform.mining import Miner
from logmarketd.transform.mining.digest import WindowDigest

HDFS_LINE = (
    "BLOCK* NameSystem.addStoredBlock: blockMap updated: 10.251.73.220:50010 "
    "is added to blk_7128370237687728475 size 67108864"
)


def test_same_line_three_times_is_one_template() -> None:
    """A mostly-masked line matches its own template (drain3 gave three ids)."""
    m = Miner()
    ids = {m.add(HDFS_LINE, 1.0).template_id for _ in range(3)}
    assert len(ids) == 1
    assert len(m) == 1


def test_new_then_seen_and_counts() -> None:
    """The first line creates a new template; repeats are seen and counted."""
    m = Miner()
    first = m.add("Connection closed by 10.0.0.1 [preauth]", 1.0)
    again = m.add("Connection closed by 10.0.0.2 [preauth]", 2.0)
    assert (first.event, first.is_new_template) == ("new", True)
    assert (again.event, again.is_new_template) == ("seen", False)
    assert again.template == "Connection closed by <*> [preauth]"
    assert again.variables == ["10.0.0.2"]
    (row,) = m.templates()
    assert (row.count, row.first_seen, row.last_seen) == (2, 1.0, 2.0)


def test_two_words_stay_two_events_many_words_become_a_variable() -> None:
    """``Link ok``/``Link error`` stay apart; a position with many values generalises."""
    m = Miner(min_variants=3)
    a = m.add("Link ok", 0.0).template_id
    b = m.add("Link error", 0.0).template_id
    assert a != b
    names = ["webmaster", "admin", "oracle", "guest"]
    matches = [m.add(f"Invalid user {u} from 1.2.3.4", 0.0) for u in names]
    assert matches[2].event == "changed"
    assert matches[2].template == "Invalid user <*> from <*>"
    assert matches[3].template_id == matches[2].template_id
    final = dict(m.label([f"Invalid user {u} from 1.2.3.4" for u in names]))
    assert len(final) == 1


def test_label_reports_final_templates() -> None:
    """``label`` gives earlier lines the template that later lines generalised."""
    lines = [f"session opened for user {u}" for u in ("root", "bob", "eve", "ann")]
    labels = Miner().label(lines)
    assert len({tid for tid, _ in labels}) == 1
    assert labels[0][1] == "session opened for user <*>"


def test_generalising_keeps_shared_punctuation() -> None:
    """Differing values in brackets generalise to ``[<*>]``, keeping the brackets."""
    m = Miner(glued_names=False)
    for host in ("Thunderbird_A8", "Thunderbird_B8", "Thunderbird_C7"):
        last = m.add(f"data_thread() got not answer from any [{host}] datasource", 0.0)
    assert last.template == "data_thread() got not answer from any [<*>] datasource"


def test_a_worded_line_is_not_taken_by_an_all_variable_template() -> None:
    """``12345`` makes the template ``<*>``; ``normal`` is a different event."""
    m = Miner()
    m.add("12345", 0.0)
    assert m.add("normal", 0.0).template == "normal"


def test_id_is_a_fingerprint_shared_across_miners() -> None:
    """Two independent miners (two hosts) give one template the same id."""
    a = Miner().add("disk /dev/sda1 is full", 0.0)
    b = Miner().add("disk /dev/sdb2 is full", 5.0)
    assert a.template_id == b.template_id


def test_eviction_under_a_flood_keeps_memory_bounded() -> None:
    """Every line unique: live templates stay at the cap and memory stops growing."""
    m = Miner(max_templates=500, cache_size=2_000)

    def flood(start: int, n: int) -> None:
        for i in range(start, start + n):
            word = "".join(chr(97 + (i // 26**k) % 26) for k in range(5))
            m.add(f"{word} event {word[::-1]} happened", float(i))
            if i % 1000 == 0:
                m.export_rows()

    flood(0, 3_000)
    tracemalloc.start()
    flood(3_000, 3_000)
    first, _ = tracemalloc.get_traced_memory()
    flood(6_000, 6_000)
    second, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(m) == 500
    assert m.evicted == 12_000 - 500
    assert second < first * 1.5 + 200_000


def test_evicted_template_comes_back_under_the_same_id() -> None:
    """After eviction the same event gets its old id again (drain3 issued new ones)."""
    m = Miner(max_templates=2)
    first = m.add("service alpha started", 0.0).template_id
    m.add("other thing one", 1.0)
    m.add("third kind of line here", 2.0)
    assert m.evicted == 1
    assert m.add("service alpha started", 3.0).template_id == first


def test_window_digest_collapses_repeats() -> None:
    """Repeats in a window become one entry with count, times and a few examples."""
    m = Miner()
    digest = WindowDigest(max_examples=2)
    for i in range(5):
        digest.add(m.add(f"request took {i + 10} ms", float(i)), float(i))
    digest.add(m.add("cache flushed", 9.0), 9.0)
    top, other = digest.entries()
    assert (top.count, top.first_ts, top.last_ts, top.is_new_template) == (5, 0.0, 4.0, True)
    assert top.examples == [["10 ms"], ["11 ms"]]
    assert other.count == 1


def test_window_digest_folds_a_generalised_template() -> None:
    """A template generalised inside the window is reported once, under its new id."""
    m = Miner(min_variants=3)
    digest = WindowDigest()
    for u in ("root", "bob", "eve"):
        digest.add(m.add(f"login by {u}", 0.0), 0.0)
    entries = digest.entries()
    assert [e.template for e in entries][-1] == "login by <*>"
    assert sum(e.count for e in entries) == 3


def test_match_looks_up_without_learning() -> None:
    """``match`` finds a known template and changes nothing; unknown lines give None."""
    m = Miner()
    m.add("disk /dev/sda1 is full", 1.0)
    before = m.templates()
    found = m.match("disk /dev/sdb9 is full")
    assert found is not None and found.template == "disk <*> is full"
    assert m.match("completely different words here") is None
    assert m.templates() == before


def test_a_word_filling_a_masked_slot_is_the_same_event() -> None:
    """``chdir(pwd)`` fits ``chdir(<*>)``; dot leaders name their value's key."""
    m = Miner()
    a = m.add("LOGIN chdir(/home/bob/x) failed", 0.0)
    b = m.add("LOGIN chdir(pwd) failed", 0.0)
    assert a.template_id == b.template_id
    c = m.add("icache prefetch depth......0", 0.0)
    d = m.add("icache prefetch threshold....0", 0.0)
    assert c.template_id != d.template_id


def test_optional_fields_and_empty_values_give_one_template() -> None:
    """A field that is sometimes empty is one event, not two (``()`` / ``(host)``,
    ``logname=`` / ``logname=bob``)."""
    lines = [
        "connection from 10.0.0.1 () at noon",
        "connection from 10.0.0.2 (a.example) at noon",
        "connection from 10.0.0.3 (b.example) at noon",
        "connection from 10.0.0.4 (c.example) at noon",
        "connection from 10.0.0.5 () at noon",
    ]
    assert len({t for t, _ in Miner().label(lines)}) == 1
    kv = ["auth failure; logname= uid=0", "auth failure; logname=bob uid=7"]
    assert len({t for t, _ in Miner().label(kv)}) == 1


def test_a_value_glued_to_a_word_groups_by_that_word() -> None:
    """``BIOS-e820:`` lines are not compared with every line that starts with a value."""
    lines = [
        "BIOS-e820: 0000000000000000 - 000000000009f800 (usable)",
        "BIOS-e820: 00000000000f0000 - 0000000000100000 (reserved)",
        "12345 - 67890 (usable)",
    ]
    labels = [text for _, text in Miner(glued_names=False).label(lines)]
    assert labels[0].startswith("BIOS-e<*>:") and labels[0] != labels[2]
    assert Miner().label(lines)[0][1].startswith("BIOS-e820:")  # a name, by default


def test_value_lists_of_any_length_collapse_when_asked() -> None:
    """``collapse_lists``: the same event with a longer list of values has one template."""
    from logmarketd.transform.mining.miner import collapse_lists

    def collapsed(text: str) -> str:
        return " ".join(collapse_lists(text.split(" ")))

    assert collapsed("sets node-<*> <ok> node-<*> <ok> node-<*> <ok>") == "sets node-<*> <ok> <*>"
    assert collapsed("a b a b") == "a b a b"  # no value: constants
    lines = ["sets n1001 ok n1002 ok", "sets n1001 ok n1002 ok n1003 ok n1004 ok"]
    assert len({t for t, _ in Miner(collapse_lists=True).label(lines)}) == 1

"""Properties over arbitrary text: the miner never fails and never loses a message's text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from logmarketd.transform.mining import Masker, Miner, extract_variables

WORDS = st.sampled_from(
    ["user", "root", "failed", "from", "port", "=", "id=7", "0x1f", "10.0.0.1", '"a b"', "-"]
)
LINES = st.one_of(st.text(max_size=80), st.lists(WORDS, max_size=8).map(" ".join))


@settings(max_examples=300, deadline=None)
@given(st.lists(LINES, min_size=1, max_size=12))
def test_every_message_fits_its_template(lines: list[str]) -> None:
    """Any text gets a template, and its variables read back from that template."""
    miner = Miner()
    for line, (_, template) in zip(lines, miner.label(lines), strict=True):
        assert extract_variables(template, line) is not None, (template, line)


@settings(max_examples=300, deadline=None)
@given(LINES)
def test_masking_is_idempotent(line: str) -> None:
    """Masking a masked message changes nothing more."""
    masker = Masker()
    once = masker.mask(line)
    assert masker.mask(once) == once


# Short strings over the characters the masking patterns turn on: digits glued to slashes,
# words, keys and placeholders (``1//``, ``1true``, ``//=a``).
PUNCTUATION = st.text(alphabet="01a/=.:-_ ()[]\"'<*>truefx@,", max_size=16)


@settings(max_examples=2000, deadline=None)
@given(st.one_of(PUNCTUATION, st.sampled_from(["1//", "1true", "//=a"])))
def test_masking_is_idempotent_on_punctuation(line: str) -> None:
    """mask(mask(x)) == mask(x), also where a placeholder lands next to a path, a word or a key."""
    for masker in (Masker(), Masker(empty_values=True, glued_names=True)):  # the miner's
        once = masker.mask(line)
        assert masker.mask(once) == once, (line, once)

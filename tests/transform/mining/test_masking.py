"""Masking: each variable kind becomes one ``<*>``; constants and ids stay whole."""

from __future__ import annotations

import pytest
from logmarketd.transform.mining import Masker
from logmarketd.transform.mining.masking import DISPLAY_PATTERNS, shape


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("took 35 ms", "took <*>"),
        ("from 10.251.73.220:50010 ok", "from <*> ok"),
        ("peer fe80:0:0:0:202:b3ff:fe1e:8329 up", "peer <*> up"),
        ("peer fe80::1ff:fe23:4567:890a up", "peer <*> up"),
        ("bind [::1]:8080 ok", "bind [<*>]:<*> ok"),
        ("call Store::Apply now", "call Store::Apply now"),
        ("id 123e4567-e89b-12d3-a456-426614174000 done", "id <*> done"),
        ("token a64f992 seen", "token <*> seen"),
        ("addr 0x7fed806eb5d", "addr <*>"),
        ("open /var/log/syslog.1 now", "open <*> now"),
        ("open C:\\Windows\\winsxs\\cbscore.dll now", "open <*> now"),
        ("GET https://example.com/a?b=1 200", "GET <*>"),
        ("mail to bob@example.org failed", "mail to <*> failed"),
        ("at 2016-09-28 04:30:30 start", "at <*> start"),
        ("at 2016-09-28T04:30:30.123Z start", "at <*> start"),
        ("sent 1190 bytes (1.16 KB) ok", "sent <*> ok"),
        ("lifetime <1 sec", "lifetime <*>"),
        ('tag="View Lock" ok', 'tag="<*>" ok'),
        ("user=root uid=0", "user=<*> uid=<*>"),
        ("ws=WorkSource{10113} x", "ws=<*> x"),
        ("isOverlap:false done", "isOverlap:<*> done"),
        ("IRQs 3 4 5 6 disabled", "IRQs <*> disabled"),
        ("generating core.862", "generating core.<*>"),
        ("block blk_-6952295868487656571 end", "block <*> end"),
        ("task attempt_1445144423722_0020_m_000000_0 done", "task <*> done"),
        ("from /10.250.19.102:54106 and msra-sa-41/10.190.173.170:9000", "from <*> and <*>"),
        ("connect to MSRA-SA-41.fareast.corp.microsoft.com:8030.", "connect to <*>."),
        ("lease from 00:11:43:e3:ba:c3 via eth1", "lease from <*> via eth<*>"),
        ("chip FF:F2:9F:16:EB:AE:00:0D:60:E9:14:51 ok", "chip <*> ok"),
        ("state.clipTopAmount:12 ok", "state.clipTopAmount:<*> ok"),
        ("name an123 an124 an125 an126", "name <*>"),
        ('"GET /v2/servers/detail HTTP/1.1" status: 200', '"GET <*>" status: <*>'),
        ('"POST /v2/servers HTTP/1.1" status: 202', '"POST <*>" status: <*>'),
        ("via interface alt0", "via interface alt<*>"),
        ("Link error", "Link error"),
    ],
)
def test_masks_variable_kinds(text: str, masked: str) -> None:
    """Every documented variable kind is masked as one placeholder, constants are kept."""
    assert Masker().mask(text) == masked


def test_uuid_is_masked_whole_not_digit_by_digit() -> None:
    """Two UUIDs mask to the same text (drain3 digit masking made each one a cluster)."""
    m = Masker()
    a = m.mask("instance 9f4ef63a-1d2b-4c3d-8e9f-0a1b2c3d4e5f deleted")
    b = m.mask("instance deadbeef-0000-4c3d-8e9f-ffffffffffff deleted")
    assert a == b == "instance <*> deleted"


def test_values_are_returned_in_order() -> None:
    """``mask_with_values`` gives the masked-out substrings left to right."""
    masked, values = Masker().mask_with_values('user=bob from 10.0.0.1 said "hi there"')
    assert masked == 'user=<*> from <*> said "<*>"'
    assert values == ["bob", "10.0.0.1", "hi there"]


def test_masking_depends_on_digit_shape_only() -> None:
    """Masks agree for texts that differ only in digit values (the fast path's premise)."""
    m = Masker()
    assert m.mask("x 0x1f y 12:30:00 z") == m.mask("x 9x1f y 99:99:99 z")


def test_shape_reads_every_digit_as_zero_or_every_id_as_one_zero() -> None:
    """``shape``: digits to 0 (positions kept: the miner's and the uniqueness score's key);
    ``ids=True``: each hex run holding a digit to one 0 (widths gone: the agents' groups)."""
    assert shape("took 95 ms for ab12cd, ö 7") == "took 00 ms for ab00cd, ö 0"
    assert shape("took 95 ms for ab12cd") != shape("took 105 ms for ab12cd")
    assert shape("took 95 ms for ab12cd", ids=True) == "took 0 ms for 0"
    assert shape("took 105 ms for 9f4ef63", ids=True) == "took 0 ms for 0"
    assert shape("\udcff 1") == "\udcff 0"  # a lone surrogate survives


def test_display_patterns_give_typed_placeholders() -> None:
    """The agents' shown template: typed placeholders, paths and quoted names kept."""
    m = Masker(DISPLAY_PATTERNS, typed=True)
    line = "2024-05-01 10:00:00 open '/srv/a.txt' from 10.0.0.1:80 id 0x1f took -5 ms"
    assert m.mask(line) == "<ts> open '/srv/a.txt' from <ip> id <hex> took <n> ms"
    assert m.mask("block BP-13-10.1.2.3-14 blk_-6952295868487656571") == (
        "block BP-<n>-<ip>-<n> blk_-<hex>"
    )
    assert m.mask_with_values("took 5 ms") == ("took <n> ms", ["5"])


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("authentication failure; logname= uid=0", "authentication failure; logname=<*> uid=<*>"),
        ("connection from 10.0.0.1 () at noon", "connection from <*> (<*>) at noon"),
        ("connection from 10.0.0.1 (h.example) at noon", "connection from <*> (h.example) at noon"),
        ("workerEnv.init() ok", "workerEnv.init() ok"),
    ],
)
def test_an_empty_value_is_a_value(text: str, masked: str) -> None:
    """With empty values on (the miner's default) an empty field gets its placeholder."""
    assert Masker(empty_values=True).mask(text) == masked


def test_glued_names_keep_a_few_trailing_digits() -> None:
    """``glued_names``: eth0 and BIOS-e820 are names; long runs and inner digits are values."""
    masker = Masker(glued_names=True)
    assert masker.mask("BIOS-e820: up via eth0 ssh2") == "BIOS-e820: up via eth0 ssh2"
    assert masker.mask("host dn2281 id a1b2") == "host dn<*> id a<*>b2"
    assert Masker().mask("via eth0") == "via eth<*>"

"""A published finding names a location only when the log gave one: a file, a position, a
route, an address. A word guessed from the line ("at disk", "at worker") is no location."""

from __future__ import annotations

import pytest
from logmarketd.analysis.agents.places import place
from logmarketd.analysis.analyse import inspect_log

from tests.bench.corpus_score import findings_of


@pytest.mark.parametrize(
    ("log", "source"),
    [
        ("2026-12-03 10:00:01 UTC [4242] ERROR:  deadlock detected\n", "runtime"),
        ("[2026-12-03 10:00:00 +0000] [101] [CRITICAL] WORKER TIMEOUT (pid:105)\n", "runtime"),
        ("2026-12-03 10:00:00 ERROR disk quota exceeded on volume\n", "runtime"),
        ("ERROR: ResolutionImpossible: for help visit https://pip.pypa.io/\n", "build"),
    ],
)
def test_no_location_is_made_up(log: str, source: str) -> None:
    found = findings_of(inspect_log(log, source).report().analysis.model_dump(by_alias=True))
    assert found
    for f in found:
        assert f.get("location") in (None, "unknown"), f


def test_a_file_the_log_names_stays_the_location() -> None:
    log = (
        "/usr/bin/ld: /tmp/cc1.o: in function `main':\n"
        "main.c:(.text+0x1e): undefined reference to `compute_total'\n"
        "collect2: error: ld returned 1 exit status\n"
    )
    found = findings_of(inspect_log(log, "build").report().analysis.model_dump(by_alias=True))
    assert any(f.get("location") == "main.c" for f in found), found


def test_places() -> None:
    for loc in ("main.c", "app/core.py", "/usr/bin/ld", "eval.c:97:21", "GET /health",
                "127.0.0.1:5432", "com.example.billing.Invoice.total", "tests/test_x.py::test_y"):  # fmt: skip
        assert place(loc) == loc, loc
    for loc in (None, "", "deadlock", "WORKER", "disk", "line 3", "unknown", "Cannot", "1",
                "ResolutionImpossible", "password", "<*> failed"):  # fmt: skip
        assert place(loc) is None, loc


def test_a_described_place_is_a_place() -> None:
    for loc in ("Makefile target app", "package.json dependency left-pad",
                "requirement logmarket-no-such-package==1.0", "react@18.2.0"):  # fmt: skip
        assert place(loc) == loc, loc

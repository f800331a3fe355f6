"""The fleet benchmark runs end to end on a tiny input, so it cannot rot between real runs."""

from __future__ import annotations

from tests.bench import fleet


def test_fleet_benchmark_reports_each_store() -> None:
    rows = fleet.run(6)
    assert [name for name, _, _ in rows] == [
        "embedded SQLite, 1 daemon",
        "PostgreSQL, 1 daemon",
        "PostgreSQL, 3 daemons",
    ]
    assert all(analyses > 0 for _, analyses, _ in rows)
    assert "payments/s" in fleet.report(rows)

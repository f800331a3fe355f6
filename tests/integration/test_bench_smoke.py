"""The benchmarks run end to end on tiny inputs, so they cannot rot between real runs.
(They print figures; nothing here judges speed.)"""

from __future__ import annotations

from tests.bench import adversary, handler, ingest


def test_handler_benchmark_runs_and_reports_every_handler() -> None:
    """Every configuration produces figures and the daemon-up run flushes everything."""
    results = handler.run(n=2_000, warm=500, more=5_000)
    text = handler.report(results, 2_000, 5_000)
    print(text)
    assert results["logmarket-up"]["flushed"] is True
    assert results["logmarket-down"]["dropped"] == 0  # below capacity at this size
    assert all(r["cpu_us"] > 0 for r in results.values())
    assert "stdlib QueueHandler" in text


def test_ingest_benchmark_runs_and_every_record_arrives() -> None:
    """The ingest benchmark asserts internally that all records were stored."""
    rows = ingest.run(8_000)
    print(ingest.report(rows, 8_000))
    assert len(rows) == 10 and all(value > 0 for _, _, value in rows)


def test_adversary_benchmark_runs_every_strategy_over_both_ways_in() -> None:
    """Every (strategy, transport) cell sends its logs and reads the account back."""
    results = adversary.run(n=3)
    print(adversary.report(results))
    cells = {(c.strategy, c.transport): c for c in results["cells"]}
    assert set(cells) == {(s, t) for s, _ in adversary.STRATEGIES for t, _ in adversary.TRANSPORTS}
    assert all(c.sent == 3 and c.credited >= c.first >= 0 for c in cells.values())
    assert len(results["samples"]) == len(adversary.SAMPLES)

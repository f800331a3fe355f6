"""When the model fails: retries, timeouts, budget, breaker, bad answers, concurrency, races."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from logmarketd.analysis.llm import Enricher, SqliteCache, build_enricher
from logmarketd.ingest.redact import Redactor

from tests.fakes.enrich_setup import (
    KEY,
    PROVIDERS,
    config,
    enricher,
    group,
)
from tests.fakes.llm_server import Answer, Fail, FakeLLMServer, RawText, Stall

pytestmark = pytest.mark.usefixtures("llm_sdk_env")


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_server_errors_retry_then_fall_back_and_trip_the_breaker(
    server: FakeLLMServer, provider: str
) -> None:
    """500s are retried, then the rules answer; repeated failure opens the circuit."""
    server.responder = lambda r: Fail(500)
    e = enricher(server, provider)
    [first] = await e.enrich([group("a")])
    assert first.source == "rules" and first.fallback == "server-error"
    assert len(server.requests) == 2  # one try, one retry
    [second] = await e.enrich([group("b")])
    assert second.fallback == "server-error" and e.breaker.state == "open"
    [third] = await e.enrich([group("c")])
    await e.close()
    assert third.fallback == "breaker-open" and len(server.requests) == 4
    assert e.stats.fallbacks == {"server-error": 2, "breaker-open": 1}


async def test_client_errors_are_not_retried(server: FakeLLMServer) -> None:
    """A 400 (bad request) falls back at once: retrying cannot help."""
    server.responder = lambda r: Fail(400, "bad request")
    e = enricher(server)
    [result] = await e.enrich([group()])
    await e.close()
    assert result.fallback == "client-error" and len(server.requests) == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
async def test_timeouts_fall_back_to_rules(server: FakeLLMServer, provider: str) -> None:
    """A server that does not answer in time costs a timeout and a retry, then the rules."""
    server.responder = lambda r: Stall(30)
    e = enricher(server, provider, timeout=0.3)
    [result] = await e.enrich([group()])
    await e.close()
    assert result.source == "rules" and result.fallback == "timeout"
    assert len(server.requests) == 2 and e.stats.retries == 1


async def test_recovery_after_a_failure_uses_a_retry(server: FakeLLMServer) -> None:
    """One 503 then a good answer: the retry succeeds and the breaker stays closed."""
    server.script = [Fail(503)]
    e = enricher(server)
    [result] = await e.enrich([group()])
    await e.close()
    assert result.source == "llm" and e.breaker.state == "closed" and e.stats.retries == 1


async def test_budget_exhaustion_falls_back_and_opens_the_breaker(server: FakeLLMServer) -> None:
    """Past the daily token budget no request goes out, until the next UTC day."""
    e = enricher(server, daily_token_budget=100)
    [result] = await e.enrich([group()])
    await e.close()
    assert result.fallback == "budget" and server.requests == []
    assert e.breaker.state == "open"
    [later] = await e.enrich([group("x")])
    assert later.fallback == "breaker-open"


async def test_budget_counts_reported_tokens(server: FakeLLMServer) -> None:
    """The budget is charged what the provider reported, not the estimate."""
    e = enricher(server, daily_token_budget=100_000)
    [result] = await e.enrich([group()])
    await e.close()
    assert e.budget.used == result.tokens > 0


@pytest.mark.parametrize(
    ("reply", "provider"),
    [
        (RawText("this is not json"), "openai"),
        (RawText("this is not json"), "anthropic"),
        (RawText('{"root_cause": "x"}'), "openai-compatible"),
        (
            Answer(
                {"root_cause": "x", "suggested_fix": "y", "severity": None, "evidence_lines": [999]}
            ),
            "openai",
        ),
        (
            Answer(
                {
                    "root_cause": "x",
                    "suggested_fix": "y",
                    "severity": "apocalyptic",
                    "evidence_lines": [41],
                }
            ),
            "anthropic",
        ),
        (
            Answer(
                {
                    "root_cause": "x",
                    "suggested_fix": "y",
                    "severity": None,
                    "evidence_lines": [41],
                    "score": 99,
                }
            ),
            "openai",
        ),
    ],
    ids=[
        "not-json",
        "anthropic-text",
        "missing-fields",
        "unknown-line",
        "bad-severity",
        "extra-field",
    ],
)
async def test_invalid_answers_are_rejected_cleanly(
    server: FakeLLMServer, reply: Answer | RawText, provider: str
) -> None:
    """Non-JSON, incomplete, out-of-schema or uncited answers give the rules' result, not an error."""
    server.responder = lambda r: reply
    e = enricher(server, provider)
    [result] = await e.enrich([group()])
    await e.close()
    assert result.source == "rules" and result.fallback == "invalid-answer"
    assert result.severity == "high" and result.root_cause is None
    assert e.stats.fallbacks["invalid-answer"] == 1 and len(server.requests) == 1


async def test_concurrency_is_capped(server: FakeLLMServer) -> None:
    """No more requests in flight than LOGMARKET_LLM_MAX_CONCURRENCY."""
    server.responder = lambda r: Stall(0.15)
    e = enricher(server, max_concurrency=2)
    results = await e.enrich([group(f"g{i}") for i in range(6)])
    await e.close()
    assert all(r.source == "llm" for r in results)
    assert server.max_in_flight == 2 and len(server.requests) == 6


@pytest.mark.parametrize("store", ["memory", "sqlite"])
async def test_concurrent_batches_share_one_request(
    server: FakeLLMServer, tmp_path: Path, store: str
) -> None:
    """Batches racing on one new template make one request, with either cache."""
    server.responder = lambda r: Stall(0.2)
    cache = await SqliteCache.open(tmp_path / "race.db") if store == "sqlite" else None
    e = enricher(server, cache=cache)
    results = await asyncio.gather(*(e.enrich([group("race")]) for _ in range(4)))
    await e.close()
    if cache is not None:
        await cache.close()
    assert len(server.requests) == 1
    assert sorted(r[0].source for r in results) == ["cache", "cache", "cache", "llm"]


async def test_breaker_half_opens_and_recovers_after_the_reset_time(server: FakeLLMServer) -> None:
    """After the reset time one trial request goes out; its success closes the circuit."""
    now = [1_000_000.0]
    server.responder = lambda r: Fail(502)
    e = Enricher(
        build_enricher(config(server, max_retries=0, breaker_reset=30)).provider,
        config(server, max_retries=0, breaker_reset=30),
        redactor=Redactor(KEY),
        clock=lambda: now[0],
    )
    await e.enrich([group("a"), group("b")])
    assert e.breaker.state == "open" and len(server.requests) == 2
    [skipped] = await e.enrich([group("c")])
    assert skipped.fallback == "breaker-open" and len(server.requests) == 2
    now[0] += 31
    server.responder = lambda r: Answer(
        {"root_cause": "rc", "suggested_fix": "f", "severity": None, "evidence_lines": [41]}
    )
    [trial] = await e.enrich([group("c")])
    await e.close()
    assert trial.source == "llm" and e.breaker.state == "closed" and len(server.requests) == 3


async def test_budget_spent_before_a_restart_still_counts(
    server: FakeLLMServer, tmp_path: Path
) -> None:
    """A restarted daemon reads today's spent tokens from the store: no fresh budget."""
    cache = await SqliteCache.open(tmp_path / "usage.db")
    first = enricher(server, cache=cache, daily_token_budget=3000)
    [done] = await first.enrich([group("u1")])
    await first.close()
    assert done.source == "llm" and done.tokens > 0
    # The next request would fit a fresh budget but not what is left of today's.
    second = enricher(server, cache=cache, daily_token_budget=done.tokens + 100)
    [refused] = await second.enrich([group("u2")])
    await second.close()
    await cache.close()
    assert refused.fallback == "budget" and len(server.requests) == 1
    assert second.budget.used >= done.tokens

"""The model's requests: one per new template group (enrichment) and one per log digest
(discovery, :meth:`Enricher.discover`), never more, never unguarded.

For each :class:`FindingGroup`: the cache first (fingerprint, provider, model, prompt version);
on a miss, the circuit breaker and the daily token budget decide whether a call may go out; the
call runs under a concurrency cap with a timeout and retries with jittered exponential backoff;
the reply is validated (schema, cited lines); the severity is clamped to the rules' range. Any
failure gives the rules' result (``source='rules'``, ``fallback=<reason>``), counted in
:attr:`Enricher.stats`; the stage never raises for a model's sake.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from logmarketd.analysis.llm.cache import CachedAnswer, CacheKey, EnrichmentCache, MemoryCache
from logmarketd.analysis.llm.config import LLMConfig
from logmarketd.analysis.llm.digest import Digest
from logmarketd.analysis.llm.discover import Discovered, build_discovery_prompt, parse_discovery
from logmarketd.analysis.llm.errors import AnswerError, ProviderError
from logmarketd.analysis.llm.guard import CircuitBreaker, DailyTokenBudget
from logmarketd.analysis.llm.prompt import PROMPT_VERSION, Prompt, build_prompt
from logmarketd.analysis.llm.providers import Provider, Reply, make_provider
from logmarketd.analysis.llm.types import SEVERITIES, Enrichment, FindingGroup, clamp_severity
from logmarketd.analysis.llm.validate import parse_answer
from logmarketd.ingest.redact import Redactor, default_redactor

__all__ = ["DiscoveryOutcome", "Enricher", "EnricherStats", "build_enricher"]

DISCOVERY_VERSION = f"{PROMPT_VERSION}+discover-1"  # in the cache key of a digest's answer

# Logged: reasons, fingerprints, counts. Never prompt or answer text.
log = structlog.get_logger("logmarketd.llm")


@dataclass
class EnricherStats:
    """Counters for /metrics: requests by outcome, fallbacks by reason, tokens spent."""

    groups: int = 0
    cache_hits: int = 0
    calls: int = 0
    retries: int = 0
    tokens: int = 0
    enriched: int = 0
    cache_errors: int = 0
    fallbacks: Counter[str] = field(default_factory=Counter)
    discoveries: int = 0  # windows a model was asked (or a cached answer used) to discover in
    discovered: int = 0  # model findings kept (grounded)
    dropped: Counter[str] = field(default_factory=Counter)  # model findings dropped, by reason


@dataclass
class DiscoveryOutcome:
    """What a discovery request gave: the findings (unchecked: see ``discover.ground``) or
    why there are none (``fallback``), and what it cost."""

    found: Discovered | None
    source: str = "rules"  # llm | cache | rules
    fallback: str | None = None
    calls: int = 0
    tokens: int = 0


class Enricher:
    """Adds root cause / fix text to finding groups with a model, or leaves them to the rules.

    ``provider`` None means the ``rules`` provider: every group comes back with
    ``source='rules'`` and no request is ever made.
    """

    def __init__(
        self,
        provider: Provider | None,
        config: LLMConfig,
        *,
        redactor: Redactor | None = None,
        cache: EnrichmentCache | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[object]] | None = None,
    ) -> None:
        self.provider = provider
        self.config = config
        self.redactor = redactor or default_redactor()
        self.cache: EnrichmentCache = cache if cache is not None else MemoryCache()
        self.budget = DailyTokenBudget(config.daily_token_budget, clock)
        self.breaker = CircuitBreaker(config.breaker_failures, config.breaker_reset, clock)
        self.stats = EnricherStats()
        self._semaphore = asyncio.Semaphore(config.max_concurrency)
        self._inflight: dict[CacheKey, asyncio.Future[CachedAnswer | None]] = {}
        self._usage_day: str | None = None
        self._sleep: Callable[[float], Awaitable[object]] = sleep or asyncio.sleep
        self._rng = random.Random()

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider is not None else "rules"

    async def enrich(self, groups: Sequence[FindingGroup]) -> list[Enrichment]:
        """One :class:`Enrichment` per group, in order. Never raises for a model's failure."""
        return list(await asyncio.gather(*(self._one(g) for g in groups)))

    async def close(self) -> None:
        """Close the provider's HTTP client."""
        if self.provider is not None:
            await self.provider.close()

    # -- one group -----------------------------------------------------------------------

    def _rules(self, group: FindingGroup, reason: str | None) -> Enrichment:
        if reason is not None:
            self.stats.fallbacks[reason] += 1
        return Enrichment(
            fingerprint=group.fingerprint,
            source="rules",
            provider=self.provider_name,
            model=self.provider.model if self.provider else None,
            severity=group.severity,
            fallback=reason,
        )

    async def _one(self, group: FindingGroup) -> Enrichment:
        self.stats.groups += 1
        provider = self.provider
        if provider is None:
            return self._rules(group, None)
        key = CacheKey(group.fingerprint, provider.name, provider.model, PROMPT_VERSION)
        shared = await self._shared(key)
        if shared is None:
            try:
                cached = await self.cache.get(key)
            except Exception:  # a broken cache costs a request, not the analysis
                self.stats.cache_errors += 1
                cached = None
            if cached is not None:
                self.stats.cache_hits += 1
                return self._from_answer(group, cached, "cache")
            # Checked again: another task may have started on this key while we read the cache.
            shared = await self._shared(key)
        if shared is not None:
            (answer,) = shared
            if answer is None:
                return self._rules(group, "shared-failure")
            self.stats.cache_hits += 1
            return self._from_answer(group, answer, "cache")
        # The same template twice in one batch (or in two concurrent batches): one request.
        # The key stays in flight until the answer is in the cache, so no window lets a twin in.
        future: asyncio.Future[CachedAnswer | None] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        result: CachedAnswer | None = None
        try:
            result, reason = await self._ask(provider, group)
            if result is not None:
                try:
                    await self.cache.put(key, result)
                except Exception:
                    self.stats.cache_errors += 1
        finally:
            future.set_result(result)
            del self._inflight[key]
        if result is None:
            return self._rules(group, reason)
        self.stats.enriched += 1
        return self._from_answer(group, result, "llm")

    async def _shared(self, key: CacheKey) -> tuple[CachedAnswer | None] | None:
        """The outcome of a request already in flight for ``key`` (as a 1-tuple), or None."""
        pending = self._inflight.get(key)
        if pending is None:
            return None
        return (await asyncio.shield(pending),)

    def _from_answer(self, group: FindingGroup, answer: CachedAnswer, source: str) -> Enrichment:
        lines = sorted(e.line for e in group.evidence)[: self.config.max_evidence_lines]
        cited = sorted({lines[i] for i in answer.evidence_index if 0 <= i < len(lines)})
        proposed = answer.severity if answer.severity in SEVERITIES else None
        severity = clamp_severity(group, proposed)
        return Enrichment(
            fingerprint=group.fingerprint,
            source="llm" if source == "llm" else "cache",
            provider=self.provider_name,
            model=self.provider.model if self.provider else None,
            root_cause=answer.root_cause,
            suggested_fix=answer.suggested_fix,
            severity=severity,
            cited_lines=cited,
            tokens=answer.tokens if source == "llm" else 0,
        )

    async def _ask(
        self, provider: Provider, group: FindingGroup
    ) -> tuple[CachedAnswer | None, str]:
        """A validated answer, or None and the reason it could not be had."""
        if not self.breaker.allow():
            return None, "breaker-open"
        prompt = build_prompt(group, self.redactor, max_lines=self.config.max_evidence_lines)
        estimate = prompt.estimate_tokens() + self.config.max_output_tokens
        if not await self._reserve(provider, estimate):
            return None, "budget"
        reply = await self._complete(provider, group.fingerprint, prompt, estimate)
        if isinstance(reply, ProviderError):
            return None, reply.reason
        spent = reply.tokens if reply.tokens is not None else estimate
        self.budget.settle(estimate, spent)
        self.stats.tokens += spent
        await self._record_usage(spent)
        answer = self._accept(provider, group, prompt, reply)
        return (answer, "") if answer is not None else (None, "invalid-answer")

    async def _reserve(self, provider: Provider, estimate: int) -> bool:
        """Reserve ``estimate`` tokens of today's budget; False (and the breaker open until
        the budget refills) if there are not that many left."""
        await self._restore_usage()
        if self.budget.reserve(estimate):
            return True
        # Nothing more today: stop trying until the budget refills at UTC midnight.
        self.breaker.trip(self.budget.seconds_until_reset())
        log.warning(
            "llm.budget_exhausted",
            provider=provider.name,
            used=self.budget.used,
            limit=self.budget.limit,
            resumes_in_s=round(self.budget.seconds_until_reset()),
        )
        return False

    async def _complete(
        self,
        provider: Provider,
        label: str,
        prompt: Prompt,
        estimate: int,
        tally: Counter[str] | None = None,
        max_output: int | None = None,
    ) -> Reply | ProviderError:
        """The model's reply, retried with jittered exponential backoff while the failure is
        retryable; else the last failure (its reservation released, counted by the breaker)."""
        attempt = 0
        while True:
            if tally is not None:
                tally["calls"] += 1
            outcome = await self._attempt(provider, prompt, max_output)
            if not isinstance(outcome, ProviderError):
                return outcome
            if not outcome.retryable or attempt >= self.config.max_retries:
                self.budget.settle(estimate, 0)
                await self._record_usage(0)
                self.breaker.failure()
                log.warning(
                    "llm.request_failed",
                    provider=provider.name,
                    fingerprint=label,
                    reason=outcome.reason,
                    detail=outcome.detail[:200],
                    attempts=attempt + 1,
                    breaker=self.breaker.state,
                )
                return outcome
            attempt += 1
            self.stats.retries += 1
            delay = self.config.retry_base_delay * 2 ** (attempt - 1)
            await self._sleep(min(8.0, delay) * (0.5 + self._rng.random() / 2))

    async def _attempt(
        self, provider: Provider, prompt: Prompt, max_output: int | None = None
    ) -> Reply | ProviderError:
        """One call under the concurrency cap and a timeout: the reply, or what went wrong."""
        try:
            async with self._semaphore:
                self.stats.calls += 1
                # The SDK has its own timeout; this one also bounds what the SDK does not.
                async with asyncio.timeout(self.config.timeout + 1.0):
                    return await provider.complete(
                        prompt,
                        max_output_tokens=max_output or self.config.max_output_tokens,
                        request_timeout=self.config.timeout,
                    )
        except TimeoutError:
            return ProviderError("timeout", "no answer in time", retryable=True)
        except ProviderError as exc:
            return exc
        except Exception as exc:  # an SDK surprise is still only a failed call
            log.exception("llm.unexpected_error", provider=provider.name)
            return ProviderError("unexpected", type(exc).__name__, retryable=False)

    def _accept(
        self, provider: Provider, group: FindingGroup, prompt: Prompt, reply: Reply
    ) -> CachedAnswer | None:
        """The reply as an answer to cache, if it validates against the prompt (None if not:
        counted by the breaker)."""
        try:
            answer = parse_answer(reply.content, prompt, self.redactor)
        except AnswerError as exc:
            # A model that keeps answering junk is as good as down: it counts toward the breaker.
            self.breaker.failure()
            log.warning(
                "llm.answer_rejected",
                provider=provider.name,
                fingerprint=group.fingerprint,
                reason=str(exc)[:200],
                breaker=self.breaker.state,
            )
            return None
        self.breaker.success()
        index = {line: i for i, line in enumerate(prompt.lines)}
        return CachedAnswer(
            answer.root_cause,
            answer.suggested_fix,
            answer.severity,
            tuple(index[n] for n in answer.evidence_lines),
            reply.tokens or 0,
        )

    # -- discovery --------------------------------------------------------------------------

    async def discover(self, digest: Digest, source: str) -> DiscoveryOutcome:
        """The findings a model reports in ``digest`` that the rules missed: from the cache
        (same digest key, provider, model: see ``Digest.key``), else one request under the same breaker, budget,
        retries and concurrency cap as an enrichment. Never raises for a model's failure."""
        provider = self.provider
        if provider is None or not self.config.discover or not digest.candidates:
            return DiscoveryOutcome(None)
        self.stats.discoveries += 1
        key = CacheKey(digest.key, provider.name, provider.model, DISCOVERY_VERSION)
        try:
            cached = await self.cache.get_raw(key)
        except Exception:
            self.stats.cache_errors += 1
            cached = None
        if cached is not None:
            self.stats.cache_hits += 1
            return DiscoveryOutcome(Discovered.from_json(cached[0], digest), "cache")
        outcome = await self._ask_discovery(provider, digest, source)
        if outcome.found is None:
            self.stats.fallbacks[outcome.fallback or "invalid-answer"] += 1
            return outcome
        self.stats.enriched += 1
        try:
            await self.cache.put_raw(key, outcome.found.to_json(digest), outcome.tokens)
        except Exception:
            self.stats.cache_errors += 1
        return outcome

    async def _ask_discovery(
        self, provider: Provider, digest: Digest, source: str
    ) -> DiscoveryOutcome:
        if not self.breaker.allow():
            return DiscoveryOutcome(None, fallback="breaker-open")
        prompt = build_discovery_prompt(digest, source)
        estimate = prompt.estimate_tokens() + self.config.max_discovery_tokens
        if not await self._reserve(provider, estimate):
            return DiscoveryOutcome(None, fallback="budget")
        tally: Counter[str] = Counter()
        reply = await self._complete(
            provider, digest.key, prompt, estimate, tally, self.config.max_discovery_tokens
        )
        if isinstance(reply, ProviderError):
            return DiscoveryOutcome(None, fallback=reply.reason, calls=tally["calls"])
        spent = reply.tokens if reply.tokens is not None else estimate
        self.budget.settle(estimate, spent)
        self.stats.tokens += spent
        await self._record_usage(spent)
        try:
            found = parse_discovery(reply.content, self.redactor.redact)
        except AnswerError as exc:
            self.breaker.failure()
            log.warning("llm.answer_rejected", provider=provider.name, fingerprint=digest.key,
                        reason=str(exc)[:200], breaker=self.breaker.state)  # fmt: skip
            return DiscoveryOutcome(None, "rules", "invalid-answer", tally["calls"], spent)
        self.breaker.success()
        return DiscoveryOutcome(found, "llm", None, tally["calls"], spent)

    async def _restore_usage(self) -> None:
        """Once per UTC day, count what earlier runs of the daemon already spent today."""
        day = self.budget.day
        if self._usage_day == day:
            return
        try:
            self.budget.restore(await self.cache.load_usage(day))
            self._usage_day = day
        except Exception:  # no record: today's budget starts from what this run knows
            self.stats.cache_errors += 1

    async def _record_usage(self, tokens: int) -> None:
        try:
            await self.cache.add_usage(self.budget.day, tokens)
        except Exception:
            self.stats.cache_errors += 1


def build_enricher(
    config: LLMConfig,
    *,
    redactor: Redactor | None = None,
    cache: EnrichmentCache | None = None,
) -> Enricher:
    """The enricher ``config`` describes (SDK client created; ConfigError if it cannot be)."""
    return Enricher(make_provider(config), config, redactor=redactor, cache=cache)

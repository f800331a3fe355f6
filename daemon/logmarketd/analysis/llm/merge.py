"""A model's discoveries into an inspected log: digest, ask, ground, merge.

:func:`discover_in` builds the log's digest (cleaned: the rules' secrets masked, then the
redactor), asks the enricher's model (cache, breaker, budget), keeps what :func:`.ground`
grounds, and returns the inspection with the kept findings published (``foundBy: "model"``)
and those that earn among the scored findings, so that they are scored and priced by the
same rules as the rules' own; plus the :class:`~logmarketd.models.ModelRun` to report.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

import structlog

from logmarketd.analysis.agents.secrets import leaked_secrets, mask_secret
from logmarketd.analysis.llm.digest import AI_INSTRUCTION, Digest, build_digest
from logmarketd.analysis.llm.discover import Grounded, ground
from logmarketd.ingest.redact import Redactor
from logmarketd.models import ModelRun

if TYPE_CHECKING:
    from logmarketd.analysis.analyse import Inspection
    from logmarketd.analysis.llm.enrich import Enricher

__all__ = ["cleaner", "discover_in", "merged"]

log = structlog.get_logger("logmarketd.llm")

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_MAX_CHARS = 300  # as the digest shows a line


def cleaner(inspection: Inspection, redactor: Redactor) -> Callable[[str], str]:
    """What every text shown to a model goes through: the secrets any rule found (and the
    secret scan's, whether or not its agent ran for this source) masked, then the redactor,
    then control characters out and the length cut."""
    values = {s for f in inspection.findings for s in f.secrets}
    values.update(s for f in leaked_secrets(inspection.context) for s in f.secrets)
    ordered = sorted(values, key=len, reverse=True)

    def clean(text: str) -> str:
        for s in ordered:
            if s in text:
                text = text.replace(s, mask_secret(s))
        text = _CONTROL.sub(" ", redactor.redact(text))
        return text if len(text) <= _MAX_CHARS else text[: _MAX_CHARS - 1] + "…"

    return clean


def _digest(inspection: Inspection, clean: Callable[[str], str], max_chars: int) -> Digest:
    return build_digest(inspection.context.lines, inspection.findings, clean, max_chars=max_chars)


async def discover_in(
    enricher: Enricher, inspection: Inspection, redactor: Redactor
) -> tuple[Inspection, ModelRun]:
    """``inspection`` with the model's grounded discoveries merged in, and what the model did.
    Never raises: whatever goes wrong, the rules' inspection goes on (``fallback`` says why)."""
    provider = enricher.provider
    run = ModelRun(provider=enricher.provider_name, model=provider.model if provider else None)
    if provider is None or not enricher.config.discover:
        return inspection, run
    try:
        return await _discover(enricher, inspection, redactor, run)
    except Exception:
        log.exception("llm.discovery_failed", provider=enricher.provider_name)
        enricher.stats.fallbacks["discovery-error"] += 1
        return inspection, run.model_copy(update={"fallback": "discovery-error"})


async def _discover(
    enricher: Enricher, inspection: Inspection, redactor: Redactor, run: ModelRun
) -> tuple[Inspection, ModelRun]:
    clean = await asyncio.to_thread(cleaner, inspection, redactor)
    digest = await asyncio.to_thread(_digest, inspection, clean, enricher.config.max_digest_chars)
    outcome = await enricher.discover(digest, inspection.source)
    run = run.model_copy(update={"source": outcome.source, "fallback": outcome.fallback,
                                 "calls": outcome.calls, "tokens": outcome.tokens})  # fmt: skip
    if outcome.found is None:
        return inspection, run
    lines = inspection.context.lines
    grounded = ground(outcome.found, digest, lambda i: clean(lines[i]))
    enricher.stats.discovered += grounded.kept
    enricher.stats.dropped.update(grounded.dropped)
    run = run.model_copy(update={"discovered": grounded.kept,
                                 "dropped": sum(grounded.dropped.values()),
                                 "dropped_reasons": dict(grounded.dropped)})  # fmt: skip
    return merged(inspection, grounded), run


def merged(inspection: Inspection, grounded: Grounded) -> Inspection:
    """``inspection`` with ``grounded``'s findings published, and those that earn scored."""
    if not grounded.kept:
        return inspection
    insights = inspection.insights
    update = {name: [*getattr(insights, name), *found] for name, found in grounded.insights.items()}
    ruled = {n for f in inspection.findings if f.key != AI_INSTRUCTION for n in f.lines}
    facts = replace(inspection.facts,
                    signal_lines=inspection.facts.signal_lines + len(grounded.lines - ruled))  # fmt: skip
    return replace(
        inspection,
        insights=insights.model_copy(update=update),
        fingerprints=inspection.fingerprints | grounded.fingerprints,
        scored=(*inspection.scored, *grounded.facts),
        facts=facts,
    )

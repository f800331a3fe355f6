"""A model beside the rules: optional, validated, cached, budgeted, never trusted.

Entry points: :class:`Enricher` (``await enricher.enrich(groups)``: root causes and fixes for
the rules' finding groups), built from settings by :func:`build_enricher`, and
:func:`discover_in` (a log's digest shown to the model, the findings it reports that the rules
missed kept only when grounded in the log, see :mod:`.discover`). The default provider,
``rules``, makes no request at all.
"""

from __future__ import annotations

from logmarketd.analysis.llm.cache import (
    CACHE_DDL,
    CachedAnswer,
    CacheKey,
    EnrichmentCache,
    MemoryCache,
    SqliteCache,
)
from logmarketd.analysis.llm.config import LLMConfig
from logmarketd.analysis.llm.enrich import Enricher, EnricherStats, build_enricher
from logmarketd.analysis.llm.errors import AnswerError, LLMError, ProviderError
from logmarketd.analysis.llm.groups import apply_to_insights, groups_from_insights
from logmarketd.analysis.llm.merge import discover_in
from logmarketd.analysis.llm.prompt import PROMPT_VERSION, build_prompt
from logmarketd.analysis.llm.types import (
    Enrichment,
    FindingGroup,
    ModelAnswer,
    allowed_severities,
    apply_enrichment,
    clamp_severity,
)

__all__ = [
    "CACHE_DDL",
    "PROMPT_VERSION",
    "AnswerError",
    "CacheKey",
    "CachedAnswer",
    "Enricher",
    "EnricherStats",
    "Enrichment",
    "EnrichmentCache",
    "FindingGroup",
    "LLMConfig",
    "LLMError",
    "MemoryCache",
    "ModelAnswer",
    "ProviderError",
    "SqliteCache",
    "allowed_severities",
    "apply_enrichment",
    "apply_to_insights",
    "build_enricher",
    "build_prompt",
    "clamp_severity",
    "discover_in",
    "groups_from_insights",
]

"""Shared setup for the enrichment tests: constants, settings and groups aimed at the fake server."""

from __future__ import annotations

from logmarketd.analysis.llm import Enricher, FindingGroup, LLMConfig, build_enricher
from logmarketd.ingest.redact import Redactor
from logmarketd.models import ErrorPattern, Evidence

from tests.fakes.llm_server import FakeLLMServer

__all__ = ["AWS_ID", "DB_PASSWORD", "GH_TOKEN", "KEY", "PROVIDERS", "config", "enricher", "group"]

KEY = b"test-installation-key-0123456789"
AWS_ID = "AKIAQYLPMN5HHHFPZAM2"
GH_TOKEN = "ghp_R2d2C3poL1ke5kyWalk3rX9v8b7n6m5K4j3h"
DB_PASSWORD = "Tr0ub4dor&3xyz"

PROVIDERS = ["openai", "anthropic", "openai-compatible"]


def config(server: FakeLLMServer, provider: str = "openai", **extra: object) -> LLMConfig:
    base = server.anthropic_base_url if provider == "anthropic" else server.openai_base_url
    values: dict[str, object] = {
        "provider": provider,
        "base_url": base,
        "model": "local-model" if provider == "openai-compatible" else None,
        "timeout": 2.0,
        "max_retries": 1,
        "retry_base_delay": 0.0,
        "breaker_failures": 2,
    }
    values.update(extra)
    return LLMConfig.model_validate(values)


def enricher(server: FakeLLMServer, provider: str = "openai", **extra: object) -> Enricher:
    cache = extra.pop("cache", None)
    return build_enricher(
        config(server, provider, **extra),
        redactor=Redactor(KEY),
        cache=cache,  # type: ignore[arg-type]
    )


def group(
    fingerprint: str = "tpl-1", lines: dict[int, str] | None = None, **kw: object
) -> FindingGroup:
    lines = lines or {
        41: f"ERROR db pool exhausted user=svc password={DB_PASSWORD}",
        42: f"ERROR retry with key {AWS_ID} token {GH_TOKEN}",
    }
    values: dict[str, object] = {
        "fingerprint": fingerprint,
        "kind": "error",
        "findings": [
            ErrorPattern(
                pattern="db pool exhausted",
                location="db.py:88",
                severity="high",
                impact="requests fail",
            )
        ],
        "evidence": [Evidence(line=n, text=t) for n, t in lines.items()],
        "severity": "high",
        "severity_max": "critical",
    }
    values.update(kw)
    return FindingGroup.model_validate(values)

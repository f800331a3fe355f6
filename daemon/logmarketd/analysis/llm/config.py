"""The enrichment settings, read from ``LOGMARKET_LLM_*`` (the daemon's Settings may wrap them).

API keys are not settings here: ``OPENAI_API_KEY`` and ``ANTHROPIC_API_KEY`` are read by the
SDKs themselves, the way they always read them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from logmarketd.errors import ConfigError

__all__ = ["DEFAULT_MODELS", "ENV_NAMES", "LLMConfig", "ProviderName"]

ProviderName = Literal["rules", "openai", "anthropic", "openai-compatible"]

DEFAULT_MODELS: dict[str, str] = {
    "openai": "gpt-4o-mini",
    "anthropic": "claude-3-5-haiku-latest",
}

# field name -> environment variable
ENV_NAMES: dict[str, str] = {
    "provider": "LOGMARKET_LLM_PROVIDER",
    "model": "LOGMARKET_LLM_MODEL",
    "base_url": "LOGMARKET_LLM_BASE_URL",
    "timeout": "LOGMARKET_LLM_TIMEOUT",
    "max_concurrency": "LOGMARKET_LLM_MAX_CONCURRENCY",
    "daily_token_budget": "LOGMARKET_LLM_DAILY_TOKEN_BUDGET",
    "discover": "LOGMARKET_LLM_DISCOVER",
}


class LLMConfig(BaseModel):
    """How findings are enriched. The default, ``rules``, calls no model at all."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: ProviderName = Field(
        "rules", description="rules | openai | anthropic | openai-compatible"
    )
    model: str | None = Field(
        None, description="model name (default per provider; required for openai-compatible)"
    )
    base_url: str | None = Field(
        None,
        description="API base URL (required for openai-compatible, e.g. http://127.0.0.1:11434/v1)",
    )
    timeout: float = Field(30.0, gt=0, description="seconds per model request")
    max_concurrency: int = Field(4, ge=1, description="model requests in flight at once")
    daily_token_budget: int = Field(
        200_000, ge=0, description="tokens per UTC day; past it, rules only"
    )
    max_retries: int = Field(
        2, ge=0, description="retries of a failed request (timeouts, 429, 5xx)"
    )
    retry_base_delay: float = Field(
        0.5, ge=0, description="first backoff delay in seconds, doubled each retry"
    )
    breaker_failures: int = Field(3, ge=1, description="consecutive failures that open the circuit")
    breaker_reset: float = Field(
        60.0, gt=0, description="seconds the circuit stays open before a trial call"
    )
    max_output_tokens: int = Field(600, ge=50, description="answer length cap per request")
    max_evidence_lines: int = Field(20, ge=1, description="log lines sent per finding group")
    discover: bool = Field(
        True, description="also show the model each log's digest, for findings the rules missed"
    )
    max_digest_chars: int = Field(
        12_000, ge=500, description="characters of a log's digest shown (about 3.5 a token)"
    )
    max_discovery_tokens: int = Field(
        2000, ge=100, description="answer length cap of a discovery request"
    )

    @model_validator(mode="after")
    def _complete(self) -> LLMConfig:
        if self.provider == "openai-compatible" and (not self.base_url or not self.model):
            raise ValueError(
                "openai-compatible needs LOGMARKET_LLM_BASE_URL and LOGMARKET_LLM_MODEL"
            )
        return self

    @property
    def model_name(self) -> str:
        """The model actually asked for: the setting, else the provider's default."""
        return self.model or DEFAULT_MODELS.get(self.provider, "")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> LLMConfig:
        """Read the ``LOGMARKET_LLM_*`` variables; ``overrides`` win. Bad values: ConfigError."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            field: env[name] for field, name in ENV_NAMES.items() if env.get(name, "") != ""
        }
        values.update(overrides)
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            raise ConfigError(f"LLM settings: {exc}") from exc

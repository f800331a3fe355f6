"""LLM settings: environment names, defaults, validation, provider construction."""

from __future__ import annotations

import pytest
from logmarketd.analysis.llm import LLMConfig
from logmarketd.analysis.llm.providers import AnthropicProvider, OpenAIProvider, make_provider
from logmarketd.errors import ConfigError


def test_defaults_are_rules_only() -> None:
    """With nothing set, no model is used."""
    config = LLMConfig.from_env({})
    assert config.provider == "rules" and make_provider(config) is None
    assert config.daily_token_budget > 0 and config.max_concurrency >= 1


def test_environment_names_are_read() -> None:
    """Every LOGMARKET_LLM_* variable lands in its field, converted."""
    config = LLMConfig.from_env(
        {
            "LOGMARKET_LLM_PROVIDER": "openai-compatible",
            "LOGMARKET_LLM_MODEL": "llama3.1:8b",
            "LOGMARKET_LLM_BASE_URL": "http://127.0.0.1:11434/v1",
            "LOGMARKET_LLM_TIMEOUT": "12.5",
            "LOGMARKET_LLM_MAX_CONCURRENCY": "3",
            "LOGMARKET_LLM_DAILY_TOKEN_BUDGET": "5000",
        }
    )
    assert (config.provider, config.model_name, config.base_url) == (
        "openai-compatible",
        "llama3.1:8b",
        "http://127.0.0.1:11434/v1",
    )
    assert (config.timeout, config.max_concurrency, config.daily_token_budget) == (12.5, 3, 5000)


@pytest.mark.parametrize(
    "env",
    [
        {"LOGMARKET_LLM_PROVIDER": "gemini"},
        {"LOGMARKET_LLM_TIMEOUT": "-1"},
        {"LOGMARKET_LLM_MAX_CONCURRENCY": "0"},
        {"LOGMARKET_LLM_DAILY_TOKEN_BUDGET": "lots"},
        {"LOGMARKET_LLM_PROVIDER": "openai-compatible", "LOGMARKET_LLM_MODEL": "m"},
    ],
)
def test_bad_settings_are_config_errors(env: dict[str, str]) -> None:
    """An unknown provider, a bad number or an incomplete openai-compatible setup is refused."""
    with pytest.raises(ConfigError):
        LLMConfig.from_env(env)


def test_default_model_per_provider() -> None:
    """Model names default per provider and can be set."""
    assert LLMConfig(provider="openai").model_name == "gpt-4o-mini"
    assert LLMConfig(provider="anthropic").model_name.startswith("claude")
    assert LLMConfig(provider="anthropic", model="claude-x").model_name == "claude-x"


def test_openai_without_a_key_fails_at_startup(monkeypatch: pytest.MonkeyPatch) -> None:
    """The OpenAI SDK reads OPENAI_API_KEY; without it the daemon refuses to start."""
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(ConfigError, match="openai"):
        make_provider(LLMConfig(provider="openai"))


async def test_providers_are_built_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each provider name builds the matching SDK-backed provider with the model asked for."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)  # openai-compatible needs none
    compat = make_provider(
        LLMConfig(provider="openai-compatible", base_url="http://127.0.0.1:9/v1", model="m")
    )
    assert isinstance(compat, OpenAIProvider) and compat.name == "openai-compatible"
    assert str(compat.client.base_url).startswith("http://127.0.0.1:9/v1")
    anthropic = make_provider(LLMConfig(provider="anthropic"))
    assert isinstance(anthropic, AnthropicProvider)
    await compat.close()
    await anthropic.close()

"""Model providers over the official SDKs: OpenAI (and any OpenAI-compatible server) and Anthropic.

A provider does one request and reports what came back; retries, timeouts around the whole
call, budget and breaker live in :mod:`.enrich`. The SDKs' own retries are switched off
(``max_retries=0``) so that there is one retry policy, ours, and it is counted.

Structured output: OpenAI gets ``response_format`` with a strict JSON schema; Anthropic gets one
tool whose input schema is the answer schema, and is made to call it (``tool_choice``). Either
way the reply is validated again by :func:`.validate.parse_answer`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Protocol

import anthropic
import openai
from openai.types.chat import ChatCompletionMessageParam
from openai.types.shared_params import ResponseFormatJSONSchema

from logmarketd.analysis.llm.config import LLMConfig
from logmarketd.analysis.llm.errors import ProviderError
from logmarketd.analysis.llm.prompt import Prompt
from logmarketd.errors import ConfigError

__all__ = ["AnthropicProvider", "OpenAIProvider", "Provider", "Reply", "make_provider"]

_TOOL_NAME = "record_enrichment"


@dataclass(frozen=True, slots=True)
class Reply:
    """What a model returned: JSON text or a decoded object, and the tokens it reported."""

    content: str | dict[str, Any]
    tokens: int | None


class Provider(Protocol):
    """One model behind one API."""

    name: str
    model: str

    async def complete(
        self, prompt: Prompt, *, max_output_tokens: int, request_timeout: float
    ) -> Reply: ...

    async def close(self) -> None: ...


def _classify(exc: Exception) -> ProviderError:
    """Map either SDK's exception onto our reasons (same class names in both SDKs)."""
    timeout = (openai.APITimeoutError, anthropic.APITimeoutError)
    connection = (openai.APIConnectionError, anthropic.APIConnectionError)
    status = (openai.APIStatusError, anthropic.APIStatusError)
    if isinstance(exc, timeout):
        return ProviderError("timeout", str(exc), retryable=True)
    if isinstance(exc, connection):
        return ProviderError("connection", str(exc), retryable=True)
    if isinstance(exc, status):
        code = exc.status_code
        if code == 429:
            return ProviderError("rate-limited", str(exc), retryable=True)
        if code >= 500 or code == 408:
            return ProviderError("server-error", f"HTTP {code}", retryable=True)
        return ProviderError("client-error", f"HTTP {code}: {exc}", retryable=False)
    return ProviderError("client-error", f"{type(exc).__name__}: {exc}", retryable=False)


class OpenAIProvider:
    """Chat Completions on OpenAI or an OpenAI-compatible server (vLLM, llama.cpp, Ollama...)."""

    def __init__(self, client: openai.AsyncOpenAI, model: str, *, name: str = "openai") -> None:
        self.client = client
        self.model = model
        self.name = name

    async def complete(
        self, prompt: Prompt, *, max_output_tokens: int, request_timeout: float
    ) -> Reply:
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": prompt.system},
            {"role": "user", "content": prompt.user},
        ]
        response_format: ResponseFormatJSONSchema = {
            "type": "json_schema",
            "json_schema": {
                "name": prompt.tool or "enrichment",
                "strict": True,
                "schema": prompt.answer_schema,
            },
        }
        # OpenAI itself takes max_completion_tokens; many compatible servers know only max_tokens.
        native = self.name == "openai"
        try:
            response = await self.client.chat.completions.create(
                model=self.model,
                messages=messages,
                response_format=response_format,
                temperature=0,
                timeout=request_timeout,
                max_completion_tokens=max_output_tokens if native else openai.omit,
                max_tokens=openai.omit if native else max_output_tokens,
            )
        except openai.OpenAIError as exc:
            raise _classify(exc) from exc
        if not response.choices:
            raise ProviderError("refused", "no choices in the response", retryable=False)
        choice = response.choices[0]
        message = choice.message
        if message.refusal:
            raise ProviderError("refused", message.refusal[:200], retryable=False)
        tokens = response.usage.total_tokens if response.usage is not None else None
        if choice.finish_reason == "length":
            return Reply("", tokens)  # cut off: invalid JSON, refused by the validator
        return Reply(message.content or "", tokens)

    async def close(self) -> None:
        await self.client.close()


class AnthropicProvider:
    """The Messages API, with the answer schema as a forced tool call."""

    name = "anthropic"

    def __init__(self, client: anthropic.AsyncAnthropic, model: str) -> None:
        self.client = client
        self.model = model

    async def complete(
        self, prompt: Prompt, *, max_output_tokens: int, request_timeout: float
    ) -> Reply:
        tool = prompt.tool or _TOOL_NAME
        try:
            response = await self.client.messages.create(
                model=self.model,
                max_tokens=max_output_tokens,
                system=prompt.system,
                messages=[{"role": "user", "content": prompt.user}],
                tools=[
                    {
                        "name": tool,
                        "description": "Record the answer, with the cited lines.",
                        "input_schema": prompt.answer_schema,
                    }
                ],
                tool_choice={"type": "tool", "name": tool},
                timeout=request_timeout,
            )
        except anthropic.AnthropicError as exc:
            raise _classify(exc) from exc
        tokens = response.usage.input_tokens + response.usage.output_tokens
        for block in response.content:
            if block.type == "tool_use" and block.name == tool:
                data = block.input
                return Reply(data if isinstance(data, dict) else str(data), tokens)
        # No tool call (e.g. stopped at max_tokens): hand over any text, the validator decides.
        text = "".join(block.text for block in response.content if block.type == "text")
        return Reply(text, tokens)

    async def close(self) -> None:
        await self.client.close()


def make_provider(config: LLMConfig) -> Provider | None:
    """The provider ``config`` names, or None for ``rules``. A missing key is a ConfigError."""
    common: dict[str, Any] = {"timeout": config.timeout, "max_retries": 0}
    if config.base_url:
        common["base_url"] = config.base_url
    try:
        if config.provider == "rules":
            return None
        if config.provider == "openai":
            return OpenAIProvider(openai.AsyncOpenAI(**common), config.model_name)
        if config.provider == "openai-compatible":
            # Local servers usually take any key; the SDK refuses to start without one.
            key = os.environ.get("OPENAI_API_KEY") or "no-key"
            client = openai.AsyncOpenAI(api_key=key, **common)
            return OpenAIProvider(client, config.model_name, name="openai-compatible")
        return AnthropicProvider(anthropic.AsyncAnthropic(**common), config.model_name)
    except (openai.OpenAIError, anthropic.AnthropicError) as exc:
        raise ConfigError(f"LLM provider {config.provider}: {exc}") from exc

"""Exceptions of the LLM enrichment stage; every one ends in a fallback to the rules."""

from __future__ import annotations

from logmarketd.errors import LogmarketdError

__all__ = ["AnswerError", "LLMError", "ProviderError"]


class LLMError(LogmarketdError):
    """Base of the enrichment stage's errors."""


class ProviderError(LLMError, ConnectionError):
    """A model call failed: ``reason`` is the counted label, ``retryable`` says if a retry may help.

    Reasons: ``timeout``, ``connection``, ``rate-limited``, ``server-error``, ``client-error``,
    ``refused``.
    """

    def __init__(self, reason: str, detail: str, *, retryable: bool) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.retryable = retryable


class AnswerError(LLMError, ValueError):
    """The model answered, but not with a valid, schema-conforming, evidence-citing answer."""

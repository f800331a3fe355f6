"""Turning a model's reply into a :class:`ModelAnswer`, or refusing it with a clear reason."""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from logmarketd.analysis.llm.errors import AnswerError
from logmarketd.analysis.llm.prompt import Prompt
from logmarketd.analysis.llm.types import ModelAnswer
from logmarketd.ingest.redact import Redactor

__all__ = ["parse_answer"]

_MAX_REPLY_CHARS = 20_000


def _strip_fence(text: str) -> str:
    # Some OpenAI-compatible servers wrap JSON in a Markdown code fence despite the schema.
    text = text.strip()
    if text.startswith("```") and text.endswith("```"):
        text = text[3:-3]
        if text.startswith("json"):
            text = text[4:]
    return text.strip()


def parse_answer(reply: str | dict[str, Any], prompt: Prompt, redactor: Redactor) -> ModelAnswer:
    """Validate ``reply`` (JSON text or an already-decoded object) against the schema.

    Refused with :class:`AnswerError`: not JSON, not an object, a missing or extra field (a
    ``price`` or ``score`` included), a severity outside the four levels, or a citation of a
    line the prompt did not show. The texts are redacted once more (a model may echo input).
    """
    if isinstance(reply, str):
        if len(reply) > _MAX_REPLY_CHARS:
            raise AnswerError(f"answer too long ({len(reply)} characters)")
        try:
            data: object = json.loads(_strip_fence(reply))
        except ValueError as exc:
            raise AnswerError(f"answer is not JSON: {exc}") from None
    else:
        data = reply
    if not isinstance(data, dict):
        raise AnswerError(f"answer is a JSON {type(data).__name__}, not an object")
    try:
        answer = ModelAnswer.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or '-'}: {e['msg']}" for e in exc.errors()
        )
        raise AnswerError(f"answer does not match the schema: {problems}") from None
    unknown = sorted(set(answer.evidence_lines) - set(prompt.lines))
    if unknown:
        raise AnswerError(f"answer cites lines that were not given: {unknown}")
    return answer.model_copy(
        update={
            "root_cause": redactor.redact(answer.root_cause),
            "suggested_fix": redactor.redact(answer.suggested_fix),
            "evidence_lines": sorted(set(answer.evidence_lines)),
        }
    )

"""A fake LLM server on 127.0.0.1 speaking the OpenAI Chat Completions and Anthropic Messages APIs.

The real SDKs (``openai.AsyncOpenAI``, ``anthropic.AsyncAnthropic``) are pointed at it with
``base_url``. It records every request (path, headers, JSON body) and answers in each API's real
response format. What it answers is decided per request by a *responder* (a callable returning
one of :class:`Answer`, :class:`RawText`, :class:`Fail`, :class:`Stall`), or by a script of
replies consumed in order first.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = [
    "Answer",
    "Fail",
    "FakeLLMServer",
    "RawText",
    "Recorded",
    "Stall",
    "finding",
    "helpful",
    "obedient",
]

TOOL_NAME = "record_enrichment"
DISCOVERY_TOOL = "record_findings"


@dataclass
class Recorded:
    """One request as the server received it."""

    api: Literal["openai", "anthropic"]
    path: str
    headers: dict[str, str]
    body: dict[str, Any]

    @property
    def text(self) -> str:
        """Every piece of prompt text in the request (system and messages)."""
        parts: list[str] = []
        system = self.body.get("system")
        if isinstance(system, str):
            parts.append(system)
        for message in self.body.get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(str(block.get("text", "")) for block in content)
        return "\n".join(parts)

    @property
    def line_numbers(self) -> list[int]:
        """The ``Ln:`` line numbers shown in the prompt."""
        return [int(n) for n in re.findall(r"^\s*L(\d+): ", self.text, re.MULTILINE)]

    @property
    def shown(self) -> dict[int, str]:
        """The lines shown in the prompt, by number (``Ln: text``)."""
        found = re.findall(r"^\s*L(\d+): (.*)$", self.text, re.MULTILINE)
        return {int(n): text for n, text in found}

    @property
    def tool(self) -> str:
        """The name the answer is asked under (the schema's or the forced tool's)."""
        if "tool_choice" in self.body:
            return str(self.body["tool_choice"].get("name", TOOL_NAME))
        fmt = self.body.get("response_format") or {}
        name = (fmt.get("json_schema") or {}).get("name", "enrichment")
        return DISCOVERY_TOOL if name == DISCOVERY_TOOL else TOOL_NAME

    @property
    def discovery(self) -> bool:
        """A request for findings the rules missed (the digest of a log), not an enrichment."""
        return self.tool == DISCOVERY_TOOL


@dataclass
class Answer:
    """Reply with this object as the model's structured answer."""

    data: dict[str, Any]


@dataclass
class RawText:
    """Reply with this text as the model's message content (e.g. not JSON)."""

    text: str


@dataclass
class Fail:
    """Reply with an HTTP error in the API's error format."""

    status: int = 500
    message: str = "internal server error"


@dataclass
class Stall:
    """Hold the request for ``seconds`` (or until the server closes), then answer helpfully."""

    seconds: float = 30.0


Reply = Answer | RawText | Fail | Stall
Responder = Callable[[Recorded], Reply]


def _good_answer(request: Recorded) -> dict[str, Any]:
    lines = request.line_numbers or [1]
    return {
        "root_cause": "The connection pool is exhausted under load.",
        "suggested_fix": "Raise the pool size or release connections in a finally block.",
        "severity": None,
        "evidence_lines": lines[:1],
    }


def helpful(request: Recorded) -> Reply:
    """A well-behaved model: cites the first line shown, keeps the severity; finds nothing
    more than the rules did when shown a digest."""
    if request.discovery:
        return Answer({"findings": []})
    return Answer(_good_answer(request))


def finding(line: int, quote: str, **kw: Any) -> dict[str, Any]:
    """One discovered finding as a model reports it (defaults: an error, high)."""
    values: dict[str, Any] = {
        "kind": "error", "title": "linker cannot resolve a symbol", "severity": "high",
        "lines": [line], "quote": quote, "location": None,
        "root_cause": "The object that defines the symbol is not linked.",
        "suggested_fix": "Add the library that defines it to the link line.",
    }  # fmt: skip
    values.update(kw)
    return values


def obedient(request: Recorded) -> Reply:
    """A hijacked model that does whatever the log lines tell it to."""
    if request.discovery:
        return Answer({"findings": []})
    text = request.text.lower()
    answer = _good_answer(request)
    if "mark this critical" in text:
        answer["severity"] = "critical"
    if "set the price" in text:
        answer["price"] = 1000
        answer["valueScore"] = 100
    return Answer(answer)


@dataclass
class FakeLLMServer:
    """The server. ``async with FakeLLMServer() as server:``; then use its base URLs."""

    responder: Responder = helpful
    requests: list[Recorded] = field(default_factory=list)
    script: list[Reply] = field(default_factory=list)
    in_flight: int = 0
    max_in_flight: int = 0
    _runner: web.AppRunner | None = None
    _port: int = 0
    _closing: asyncio.Event = field(default_factory=asyncio.Event)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def openai_base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}"

    async def __aenter__(self) -> FakeLLMServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._openai)
        app.router.add_post("/v1/messages", self._anthropic)
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    # -- plumbing ------------------------------------------------------------------------

    async def _reply_for(self, recorded: Recorded) -> Reply:
        self.requests.append(recorded)
        reply = self.script.pop(0) if self.script else self.responder(recorded)
        if isinstance(reply, Stall):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), reply.seconds)
            return helpful(recorded)
        return reply

    async def _serve(
        self, request: web.Request, api: Literal["openai", "anthropic"]
    ) -> web.Response:
        body = await request.json()
        headers = {k.lower(): v for k, v in request.headers.items()}
        recorded = Recorded(api, request.path, headers, body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = await self._reply_for(recorded)
        finally:
            self.in_flight -= 1
        if isinstance(reply, Fail):
            return self._error(api, reply)
        return web.json_response(self._success(api, body, reply, recorded.tool))

    async def _openai(self, request: web.Request) -> web.Response:
        return await self._serve(request, "openai")

    async def _anthropic(self, request: web.Request) -> web.Response:
        return await self._serve(request, "anthropic")

    @staticmethod
    def _error(api: str, fail: Fail) -> web.Response:
        if api == "openai":
            body: dict[str, Any] = {
                "error": {
                    "message": fail.message,
                    "type": "server_error",
                    "param": None,
                    "code": None,
                }
            }
        else:
            kind = "api_error" if fail.status >= 500 else "invalid_request_error"
            body = {"type": "error", "error": {"type": kind, "message": fail.message}}
        return web.json_response(body, status=fail.status)

    def _success(
        self, api: str, body: dict[str, Any], reply: Reply, tool: str = TOOL_NAME
    ) -> dict[str, Any]:
        n = next(self._ids)
        prompt_tokens = len(json.dumps(body)) // 4
        if api == "openai":
            content = json.dumps(reply.data) if isinstance(reply, Answer) else reply.text  # type: ignore[union-attr]
            completion_tokens = len(content) // 4
            return {
                "id": f"chatcmpl-fake{n}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", ""),
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
            }
        if isinstance(reply, Answer):
            block: dict[str, Any] = {
                "type": "tool_use",
                "id": f"toolu_fake{n}",
                "name": tool,
                "input": reply.data,
            }
            stop = "tool_use"
            out_tokens = len(json.dumps(reply.data)) // 4
        else:
            text = reply.text  # type: ignore[union-attr]
            block = {"type": "text", "text": text}
            stop = "end_turn"
            out_tokens = len(text) // 4
        return {
            "id": f"msg_fake{n}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [block],
            "stop_reason": stop,
            "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": out_tokens},
        }

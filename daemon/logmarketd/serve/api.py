"""The seed's ten endpoints under ``/npe/log-marketplace/``, with auth, limits and JSON errors.

Every marketplace endpoint needs ``Authorization: Bearer <admin token or Sub-PKP key>``; a
Sub-PKP key acts only for its own id; paying, revoking keys and the dashboard are the admin's.
The admin token may act for any Sub-PKP id (submit, pay, read), and an id it names exists from
then on. A key is checked on every request: a revoked one is a 401 from its next request. Errors are
``{"error": ..., "detail": ...}`` with the right status (401, 403, 404, 409, 413, 422, 429).
The read-side aggregates live in :mod:`logmarketd.serve.views`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

from aiohttp import web
from pydantic import ValidationError

from logmarket._text import NotTextError, check_str
from logmarketd.market.events import Event, EventBus, sse_response
from logmarketd.market.ledger import (
    NotFoundError,
    NotPayableError,
    NotReversibleError,
    NotSettleableError,
)
from logmarketd.market.marketplace import (
    Idempotency,
    KeyReusedError,
    Marketplace,
    MarketplaceDisabledError,
    RateLimitedError,
)
from logmarketd.models import Source
from logmarketd.samples import SAMPLES
from logmarketd.serve import views
from logmarketd.serve.auth import AuthError, Principal, RateLimiter, check_admin
from logmarketd.serve.openapi import MAX_EVENT_ID, openapi_spec
from logmarketd.serve.schemas import (
    MAX_BATCH,
    MAX_CURSOR,
    MAX_ID,
    AnalyzeBody,
    BatchBody,
    PayoutNoteBody,
    ReverseBody,
    SimulateBody,
    VerdictBody,
)
from logmarketd.store.db import Store
from logmarketd.store.keys import key_owner, revoke_key

__all__ = ["API", "ROUTES", "ApiContext", "add_routes", "error_middleware"]

API = "/npe/log-marketplace"
# Our bodies are three levels deep; past this a body is refused before anything walks it
# (Python's JSON parser and every recursive consumer would otherwise hit RecursionError).
MAX_JSON_DEPTH = 32
_DIGITS = re.compile(r"[0-9]{1,19}")  # ASCII only: int() also takes "1_0", " 5", "١"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Submitted(Protocol):
    @property
    def analyses(self) -> list[dict[str, Any]]: ...  # each log's analysis as JSON, in order
    @property
    def replayed(self) -> bool: ...  # the answer kept with the Idempotency-Key


class Submit(Protocol):
    """Analyse, price, settle and publish logs, all or none (the daemon's flow)."""

    async def __call__(
        self,
        logs: Sequence[tuple[str, Source]],
        sub_pkp_id: str | None,
        *,
        simulated: bool = False,
        idempotency: Idempotency | None = None,
    ) -> Submitted: ...


class ApiContext:
    """What the handlers need, held by the app."""

    def __init__(
        self,
        store: Store,
        market: Marketplace,
        submit: Submit,
        admin_token: str,
        *,
        requests_per_minute: int,
        bus: EventBus,
        backlog: Callable[[int], Awaitable[list[Event]]],
    ) -> None:
        self.store = store
        self.market = market
        self.submit = submit
        self.admin_token = admin_token
        self.bus = bus
        self.backlog = backlog
        self.limiter = RateLimiter(requests_per_minute)

    async def authenticate(self, request: web.Request) -> Principal:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(401, "send Authorization: Bearer <admin token or Sub-PKP key>")
        token = token.strip()
        if not token.isascii():
            # Header bytes that are not UTF-8 arrive as surrogates; no token of ours has any.
            raise AuthError(401, "unknown token")
        if check_admin(token, self.admin_token):
            principal = Principal("admin", None)
        else:
            # Looked up on every request (one primary-key read), never cached: a key revoked
            # a moment ago, by the CLI or the API, fails now.
            owner = await key_owner(self.store, token)
            if owner is None:
                raise AuthError(401, "unknown or revoked token")
            principal = Principal(*owner)
        wait = self.limiter.check(principal.key_id)
        if wait:
            raise RateLimitedError(wait)
        return principal

    def shown_as(self, viewer: Principal) -> Callable[[str], str]:
        """How a Sub-PKP key sees the other Sub-PKPs: by a pseudonym, stable and unlinkable
        to the id without the admin token (Sub-PKP identities are protected); itself by id."""
        secret = hashlib.sha256(b"pseudonyms\0" + self.admin_token.encode()).digest()

        def name(sub_pkp_id: str) -> str:
            if sub_pkp_id == viewer.sub_pkp_id:
                return sub_pkp_id
            tag = hmac.new(secret, sub_pkp_id.encode(), hashlib.sha256).hexdigest()[:12]
            return f"sub-pkp-{tag}"

        return name


CTX = web.AppKey("api", ApiContext)


def _error(status: int, error: str, detail: str, **headers: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except AuthError as exc:
        return _error(exc.status, "unauthorized" if exc.status == 401 else "forbidden", exc.detail)
    except MarketplaceDisabledError as exc:
        return _error(403, "marketplace-disabled", str(exc))
    except KeyReusedError as exc:
        return _error(409, "idempotency-key-reused", str(exc))
    except RateLimitedError as exc:
        return _error(
            429, "rate-limited", str(exc), **{"Retry-After": str(int(exc.retry_after + 1))}
        )
    except NotFoundError as exc:
        return _error(404, "not-found", str(exc))
    except NotPayableError as exc:
        return _error(409, "not-payable", str(exc))
    except NotSettleableError as exc:
        return _error(409, "not-pending", str(exc))
    except NotReversibleError as exc:
        return _error(409, "not-reversible", str(exc))
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return _error(422, "invalid-request", f"{where}: {first['msg']}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        # A 405 must say what is allowed; aiohttp's own answer does, ours must too.
        allow = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else {}
        return _error(
            exc.status, exc.reason.lower().replace(" ", "-"), exc.text or exc.reason, **allow
        )


def _ctx(request: web.Request) -> ApiContext:
    return request.app[CTX]


async def _json(request: web.Request) -> Any:
    """The body as JSON (UTF-8, -16 or -32 by its first bytes; the declared charset is not
    trusted), refused with a 400 when it is not JSON or nests deeper than ``MAX_JSON_DEPTH``."""
    raw = await request.read()
    try:
        value = json.loads(raw)
    except RecursionError:
        raise web.HTTPBadRequest(text=_too_deep()) from None
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"the body is not JSON: {exc}") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise web.HTTPBadRequest(text=_too_deep())
    return value


def _too_deep() -> str:
    return f"the body is nested deeper than {MAX_JSON_DEPTH} levels"


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value``; iterative, so depth cannot hurt it."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = (
            item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        )
        if children is None:
            continue
        if level > MAX_JSON_DEPTH:
            return level
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def _bad(text: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=text)


def _int_param(name: str, raw: str | None, default: int, lo: int, hi: int) -> int:
    """A decimal integer from ``lo`` to ``hi`` (ASCII digits only), else a 400."""
    if raw is None:
        return default
    if not _DIGITS.fullmatch(raw) or not lo <= int(raw) <= hi:
        raise _bad(f"{name} must be an integer from {lo} to {hi}, got {raw[:40]!r}")
    return int(raw)


def _before_param(raw: str | None) -> float | None:
    """A paging cursor: the ``nextBefore`` a page answered (epoch seconds), or an ISO-8601
    time; else a 400."""
    if raw is None:
        return None
    if not 1 <= len(raw) <= MAX_CURSOR:
        raise _bad(f"before is 1 to {MAX_CURSOR} characters")
    try:
        value = float(raw)
    except ValueError:
        try:
            when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            raise _bad(
                f"before is a nextBefore value or an ISO-8601 time, got {raw[:40]!r}"
            ) from None
        value = (when if when.tzinfo else when.replace(tzinfo=UTC)).timestamp()
    if not math.isfinite(value):
        raise _bad("before must be finite")
    return value


def _path_id(request: web.Request, name: str) -> str:
    value = request.match_info[name]
    if not 1 <= len(value) <= MAX_ID:
        raise _bad(f"{name} is 1 to {MAX_ID} characters")
    return value


async def _idempotency(request: web.Request, principal: Principal) -> Idempotency | None:
    """The ``Idempotency-Key`` (visible ASCII, at most ``MAX_ID``), scoped to who sent it, and
    what it stands for: the method, the path and the body; None when absent or empty."""
    key = request.headers.get("Idempotency-Key")
    if not key:
        return None
    if len(key) > MAX_ID or not all("\x21" <= c <= "\x7e" for c in key):
        raise _bad(f"Idempotency-Key must be 1 to {MAX_ID} visible ASCII characters")
    # Kept per caller: another caller choosing the same key neither replays this answer nor
    # gets a 409 for it.
    head = f"{request.method} {request.path}\n".encode()
    digest = hashlib.sha256(head + await request.read()).hexdigest()
    return Idempotency(f"{principal.key_id}\x1f{key}", digest)


def _replayed(replayed: bool) -> dict[str, str] | None:
    return {"Idempotent-Replayed": "true"} if replayed else None


def _acting_for(principal: Principal, requested: str | None) -> str | None:
    """The Sub-PKP a request acts for: a key's own id; the admin's choice."""
    if principal.is_admin:
        return requested
    if requested is not None and requested != principal.sub_pkp_id:
        raise AuthError(403, "a Sub-PKP key acts only for its own Sub-PKP")
    return principal.sub_pkp_id


def _not_text(contents: Sequence[tuple[str, str]]) -> web.Response | None:
    """A 422 for the first log that is not text (NUL characters, or mostly U+FFFD: a binary
    file read as text), before anything is analysed or recorded; None when all are text."""
    for where, content in contents:
        try:
            check_str(content, where)
        except NotTextError as exc:
            return _error(422, "not-text", str(exc))
    return None


async def analyze(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    body = AnalyzeBody.model_validate(await _json(request))
    refused = _not_text([("logContent", body.log_content)])
    if refused is not None:
        return refused
    sub = _acting_for(principal, body.sub_pkp_id)
    done = await ctx.submit([(body.log_content, body.source)], sub,
                            idempotency=await _idempotency(request, principal))  # fmt: skip
    return web.json_response(done.analyses[0], headers=_replayed(done.replayed))


async def pay(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    if not principal.is_admin:
        raise AuthError(403, "only the admin token may pay")
    analysis_id = _path_id(request, "logAnalysisId")
    try:
        paid = await ctx.market.pay(analysis_id, await _idempotency(request, principal))
    except KeyReusedError as exc:
        return _error(409, "idempotency-key-reused", str(exc))
    return web.json_response(text=paid.transaction, headers=_replayed(paid.replayed))


async def dashboard(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    if not principal.is_admin:
        raise AuthError(403, "the dashboard is the admin's")
    return web.json_response(await views.dashboard(ctx.store, ctx.market.settings))


async def sub_pkp(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    sub = _path_id(request, "subPKPId")
    if not principal.may_act_for(sub):
        raise AuthError(403, "a Sub-PKP key sees only its own history")
    limit = _int_param("limit", request.query.get("limit"), 100, 1, 100)
    return web.json_response(
        await views.sub_pkp(ctx.store, sub, limit, _before_param(request.query.get("before")))
    )


async def simulate(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    body = SimulateBody.model_validate(await _json(request) if request.can_read_body else {})
    sub = _acting_for(principal, body.sub_pkp_id)
    picked = [SAMPLES[i % len(SAMPLES)] for i in range(body.iterations)]
    # one submission of all the iterations: one transaction, not one per sample
    done = await ctx.submit(
        [(content, source) for _, source, content in picked], sub, simulated=True
    )
    results = [
        {"sample": name, "id": a["id"], "source": a["source"], "valueScore": a["valueScore"],
         "paymentAmount": a["paymentAmount"], "findings": sum(len(v) for v in a["aiInsights"].values())}
        for (name, _, _), a in zip(picked, done.analyses, strict=True)
    ]  # fmt: skip
    total = sum(r["paymentAmount"] for r in results)
    return web.json_response({
        "simulated": True, "subPKPId": sub, "iterations": body.iterations,
        "analyses": results, "totalValue": round(total, 2),
        "note": "simulated analyses are recorded as such and never paid",
    })  # fmt: skip


async def batch_analyze(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    if not ctx.market.settings.batch_processing_enabled:
        return _error(403, "batch-disabled", "BATCH_PROCESSING_ENABLED is off")
    raw = await _json(request)
    if isinstance(raw, dict) and isinstance(raw.get("logs"), list) and len(raw["logs"]) > MAX_BATCH:
        return _error(413, "batch-too-large", f"at most {MAX_BATCH} logs per request")
    body = BatchBody.model_validate(raw)
    refused = _not_text([(f"logs.{i}.content", log.content) for i, log in enumerate(body.logs)])
    if refused is not None:
        return refused
    sub = _acting_for(principal, body.sub_pkp_id)
    done = await ctx.submit([(log.content, log.source) for log in body.logs], sub,
                            idempotency=await _idempotency(request, principal))  # fmt: skip
    paid = sum(Decimal(str(a["paymentAmount"])) for a in done.analyses if "transactionId" in a)
    return web.json_response({
        "subPKPId": sub,
        "totalLogs": len(done.analyses),
        "totalPaid": float(paid),
        "analyses": done.analyses,
    }, headers=_replayed(done.replayed))  # fmt: skip


async def pricing(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    await ctx.authenticate(request)
    return web.json_response(views.pricing(ctx.market.rules))


async def agents(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    await ctx.authenticate(request)
    return web.json_response(await views.agents(ctx.store, ctx.market.settings))


async def top_earners(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    limit = _int_param("limit", request.query.get("limit"), 10, 1, 100)
    name = None if principal.is_admin else ctx.shown_as(principal)
    return web.json_response({"topEarners": await views.top_earners(ctx.store, limit, name=name)})


async def quality_trends(request: web.Request) -> web.Response:
    ctx = _ctx(request)
    await ctx.authenticate(request)
    return web.json_response(await views.quality_trends(ctx.store))


async def reverse(request: web.Request) -> web.Response:
    """Reverse a payment (admin): the reversing transaction, signed and chained; asking
    again answers the first reversal (``Idempotent-Replayed: true``)."""
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    if not principal.is_admin:
        raise AuthError(403, "only the admin token may reverse a payment")
    tx_id = _path_id(request, "transactionId")
    body = ReverseBody.model_validate(await _json(request))
    result = await ctx.market.ledger.reverse(tx_id, body.reason)
    if result.created:
        ctx.bus.publish(result.events)
    headers = None if result.created else {"Idempotent-Replayed": "true"}
    return web.json_response(result.to_json(), headers=headers)


async def _admin(request: web.Request, what: str) -> ApiContext:
    ctx = _ctx(request)
    if not (await ctx.authenticate(request)).is_admin:
        raise AuthError(403, f"only the admin token may {what}")
    return ctx


async def payouts(request: web.Request) -> web.Response:
    """The triage queue (admin): payouts by state, with the findings they pay for."""
    ctx = await _admin(request, "see the payouts")
    state = request.query.get("state", "pending")
    if state not in views.PAYOUT_STATES:
        raise _bad(f"state is one of {', '.join(views.PAYOUT_STATES)}, got {state[:40]!r}")
    limit = _int_param("limit", request.query.get("limit"), 50, 1, 100)
    before = _before_param(request.query.get("before"))
    return web.json_response(await views.payouts(ctx.store, state, limit, before))


async def settle_payout(request: web.Request) -> web.Response:
    """Pay a pending or held payout now (admin): its settlement transaction, signed; asking
    again answers the same one (``Idempotent-Replayed: true``)."""
    ctx = await _admin(request, "settle a payout")
    ctx.market.require_enabled()  # off: nothing is paid out, held payouts wait
    tx_id = _path_id(request, "transactionId")
    body = PayoutNoteBody.model_validate(await _json(request) if request.can_read_body else {})
    result = await ctx.market.ledger.settle(tx_id, body.note)
    if result.created:
        ctx.bus.publish(result.events)
    headers = None if result.created else {"Idempotent-Replayed": "true"}
    return web.json_response(result.to_json(), headers=headers)


async def hold_payout(request: web.Request) -> web.Response:
    """Keep a pending payout from settling until the admin pays or reverses it."""
    ctx = await _admin(request, "hold a payout")
    tx_id = _path_id(request, "transactionId")
    body = PayoutNoteBody.model_validate(await _json(request) if request.can_read_body else {})
    note = body.note or "held for triage"  # the note kept with the payout, answered as kept
    ctx.bus.publish(await ctx.market.ledger.hold(tx_id, note))
    return web.json_response({"transactionId": tx_id, "status": "held", "note": note})


async def finding_verdict(request: web.Request) -> web.Response:
    """The admin's verdict on a finding (by fingerprint): kept for the agents' feedback."""
    ctx = await _admin(request, "judge a finding")
    fingerprint = _path_id(request, "fingerprint")
    body = VerdictBody.model_validate(await _json(request))
    return web.json_response(await ctx.market.judge(fingerprint, valid=body.valid, note=body.note))


def _text_param(request: web.Request, name: str) -> str | None:
    value = request.query.get(name)
    if value is not None and not 1 <= len(value) <= MAX_ID:
        raise _bad(f"{name} is 1 to {MAX_ID} characters")
    return value


async def findings(request: web.Request) -> web.Response:
    """Findings grouped (admin): one row per finding with how often, where and when it was
    seen, filtered by ``agent``, ``severity``, ``subPKPId`` and ``paid``."""
    ctx = await _admin(request, "see the findings")
    severity = request.query.get("severity")
    if severity is not None and severity not in views.SEVERITIES:
        raise _bad(f"severity is one of {', '.join(views.SEVERITIES)}, got {severity[:40]!r}")
    paid = request.query.get("paid")
    if paid is not None and paid not in ("true", "false"):
        raise _bad(f"paid is true or false, got {paid[:40]!r}")
    return web.json_response(await views.finding_groups(
        ctx.store, agent=_text_param(request, "agent"), severity=severity,
        sub_pkp_id=_text_param(request, "subPKPId"),
        paid=None if paid is None else paid == "true",
        limit=_int_param("limit", request.query.get("limit"), 50, 1, 100),
    ))  # fmt: skip


async def recent_events(request: web.Request) -> web.Response:
    """The last events (admin), newest first, and the id to resume the live stream from."""
    ctx = await _admin(request, "see the events")
    limit = _int_param("limit", request.query.get("limit"), 50, 1, 100)
    return web.json_response(await views.recent_events(ctx.store, limit))


async def ledger_public_key(request: web.Request) -> web.Response:
    """The key that signs the ledger, and the chain's head (to keep elsewhere)."""
    ctx = _ctx(request)
    await ctx.authenticate(request)
    key = ctx.market.ledger.signer
    if key is None:
        raise web.HTTPNotFound(text="this ledger is not signed")
    sequence, digest = await ctx.market.ledger.head()
    return web.json_response({
        "algorithm": "Ed25519", "publicKey": key.public_b64(), "pem": key.public_pem(),
        "fingerprint": key.fingerprint(),
        "head": {"sequence": sequence, "hash": digest},
    })  # fmt: skip


async def events(request: web.Request) -> web.StreamResponse:
    """Live events as Server-Sent Events (admin); ``Last-Event-ID`` or ``?since=`` resumes."""
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    if not principal.is_admin:
        raise AuthError(403, "the event stream is the admin's")
    since = request.query.get("since")
    since_id = None if since is None else _int_param("since", since, 0, 0, MAX_EVENT_ID)
    header = request.headers.get("Last-Event-ID", "").strip()
    if header:  # checked here too: sse_response takes any integer, SQLite does not
        _int_param("Last-Event-ID", header, 0, 0, MAX_EVENT_ID)
    return await sse_response(request, ctx.bus, since_id=since_id, backlog=ctx.backlog)


async def revoke(request: web.Request) -> web.Response:
    """Revoke a Sub-PKP key (admin): from now on its HTTP requests are 401s and its socket
    hellos are uncredited. Revoking a revoked key answers as the first time did."""
    ctx = _ctx(request)
    principal = await ctx.authenticate(request)
    if not principal.is_admin:
        raise AuthError(403, "only the admin token may revoke keys")
    key_id = _path_id(request, "keyId")
    revoked = await revoke_key(ctx.store, key_id)
    if revoked is None:
        return _error(404, "not-found", f"no key {key_id}")
    return web.json_response({
        "keyId": revoked.key_id, "subPKPId": revoked.sub_pkp_id, "revoked": True,
        "revokedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(revoked.revoked)),
    })  # fmt: skip


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec())


# Every route of the API: (method, path, handler); ``add_routes`` adds them all.
ROUTES: tuple[tuple[str, str, Handler], ...] = (
    ("POST", f"{API}/analyze", analyze),
    ("POST", f"{API}/pay/{{logAnalysisId}}", pay),
    ("GET", f"{API}/dashboard", dashboard),
    ("GET", f"{API}/sub-pkp/{{subPKPId}}", sub_pkp),
    ("POST", f"{API}/simulate", simulate),
    ("POST", f"{API}/batch-analyze", batch_analyze),
    ("GET", f"{API}/pricing", pricing),
    ("GET", f"{API}/agents", agents),
    ("GET", f"{API}/top-earners", top_earners),
    ("GET", f"{API}/quality-trends", quality_trends),
    ("POST", f"{API}/transactions/{{transactionId}}/reverse", reverse),
    ("GET", f"{API}/payouts", payouts),
    ("POST", f"{API}/payouts/{{transactionId}}/settle", settle_payout),
    ("POST", f"{API}/payouts/{{transactionId}}/hold", hold_payout),
    ("POST", f"{API}/findings/{{fingerprint}}/verdict", finding_verdict),
    ("GET", f"{API}/findings", findings),
    ("GET", f"{API}/events/recent", recent_events),
    ("GET", f"{API}/ledger/public-key", ledger_public_key),
    ("POST", f"{API}/keys/{{keyId}}/revoke", revoke),
    ("GET", "/events", events),
    ("GET", "/openapi.json", openapi),
)


def add_routes(app: web.Application, ctx: ApiContext) -> None:
    app[CTX] = ctx
    for method, path, handler in ROUTES:
        if method == "GET":
            app.router.add_get(path, handler)  # and HEAD, as aiohttp does for GET
        else:
            app.router.add_route(method, path, handler)

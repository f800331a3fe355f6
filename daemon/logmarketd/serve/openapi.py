"""The OpenAPI 3.1 document of the daemon's HTTP API, served at ``/openapi.json``.

Every path the daemon routes, every parameter and header it reads, and for every operation
each status it can answer with the schema of that answer. Schemas come from the pydantic
models the API validates with (requests) and documents its answers with (responses), all
in ``components/schemas`` so every ``$ref`` resolves inside this document.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from logmarketd.market.events import EVENT_TYPES
from logmarketd.serve import schemas
from logmarketd.serve.schemas import (
    MAX_CURSOR,
    MAX_ID,
    SEVERITIES,
    AnalyzeBody,
    BatchBody,
    PayoutNoteBody,
    ReverseBody,
    SimulateBody,
    VerdictBody,
)

__all__ = ["MAX_EVENT_ID", "openapi_spec"]

API = "/npe/log-marketplace"
MAX_EVENT_ID = 2**63 - 1  # SQLite's INTEGER: an event id beyond it cannot exist
_REF = "#/components/schemas/{model}"

# Why each error status happens, for the document's readers.
_WHY = {
    "400": "Malformed input: a body that is not JSON or nests too deep, or a parameter or "
    "header out of its range",
    "401": "No token, or a token the daemon does not know",
    "403": "The token may not do this (a Sub-PKP key acting for another id, an admin-only "
    "operation, batch processing switched off), or LOG_MARKETPLACE_ENABLED is off",
    "404": "No such analysis, transaction, finding, key, file or route",
    "409": "Not payable (nothing earned, simulated, no Sub-PKP, a daily cap reached), an "
    "Idempotency-Key reused with a different request, a payout that is not pending "
    "(not-pending), or a reversal or settlement asked to be reversed or settled "
    "(not-reversible)",
    "413": "The body is larger than MAX_BODY_BYTES, or a batch holds more than 100 logs",
    "422": "The JSON body does not match the request schema",
    "429": "Too many requests for this key, or MAX_LOGS_PER_HOUR reached for the Sub-PKP",
}
_EVENT_ID = {"type": "integer", "minimum": 0, "maximum": MAX_EVENT_ID}
_ID = {"type": "string", "minLength": 1, "maxLength": MAX_ID}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": _REF.format(model=name)}


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(status: str, why: str | None = None) -> dict[str, Any]:
    out = _json(_ref("Error"), why or _WHY[status])
    if status == "429":
        out["headers"] = {"Retry-After": {"description": "Seconds to wait before retrying",
                                          "schema": {"type": "integer", "minimum": 1}}}  # fmt: skip
    return out


def _op(
    op_id: str,
    summary: str,
    ok: dict[str, Any],
    errors: str,
    *,
    body: str | None = None,
    body_required: bool = True,
    params: list[dict[str, Any]] | None = None,
    admin: bool = False,
    why: dict[str, str] | None = None,
) -> dict[str, Any]:
    """One authenticated operation; ``errors`` lists its error statuses ("400 401 ..."),
    ``why`` says why one happens here when the general reason would not do."""
    why = why or {}
    responses = {"200": ok} | {code: _error(code, why.get(code)) for code in errors.split()}
    o: dict[str, Any] = {
        "operationId": op_id,
        "summary": summary + (" (admin token only)" if admin else ""),
        "security": [{"bearer": []}],
        "responses": responses,
    }
    if params:
        o["parameters"] = params
    if body:
        o["requestBody"] = {"required": body_required,
                            "content": {"application/json": {"schema": _ref(body)}}}  # fmt: skip
    return o


def _param(name: str, where: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": where, "required": where == "path", "schema": schema,
            "description": description}  # fmt: skip


def _components() -> dict[str, Any]:
    """Every model's JSON schema under ``components/schemas`` (nested models included)."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [
        (AnalyzeBody, "validation"), (BatchBody, "validation"), (SimulateBody, "validation"),
        (ReverseBody, "validation"), (PayoutNoteBody, "validation"), (VerdictBody, "validation"),
        *((m, "serialization") for m in schemas.RESPONSES),
    ]  # fmt: skip
    refs, defs = models_json_schema(models, by_alias=True, ref_template=_REF)
    out = dict(defs["$defs"])
    # Names the document uses for the request bodies (kept from earlier versions).
    for name, model in (("AnalyzeRequest", AnalyzeBody), ("BatchRequest", BatchBody),
                        ("SimulateRequest", SimulateBody), ("ReverseRequest", ReverseBody),
                        ("PayoutNoteRequest", PayoutNoteBody), ("VerdictRequest", VerdictBody)):  # fmt: skip
        out[name] = refs[(model, "validation")]
    return out


def _money_answers() -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The answers of pay, analyze and batch-analyze: replays marked, and links that tell a
    client (and schemathesis' stateful phase) where the ids they take come from."""
    json_ok = _json
    replayed = {"Idempotent-Replayed": {"description": "Present when the answer is a replay",
                                        "schema": {"type": "string", "enum": ["true"]}}}  # fmt: skip
    pay_ok = json_ok(_ref("Transaction"), "The payment transaction (the same one when paid before)")
    pay_ok["headers"] = replayed
    pay_ok["links"] = {
        link: {"operationId": op, "parameters": {"transactionId": "$response.body#/id"}}
        for link, op in (("ReverseIt", "reverse"), ("SettleIt", "settlePayout"),
                         ("HoldIt", "holdPayout"))
    }  # fmt: skip
    analyzed = json_ok(_ref("AnalyzeResult"))
    analyzed["headers"] = replayed
    analyzed["links"] = {
        "PayIt": {"operationId": "pay", "parameters": {"logAnalysisId": "$response.body#/id"}},
        "ItsSubPkp": {"operationId": "subPkp",
                      "parameters": {"subPKPId": "$response.body#/subPKPId"}},
    }  # fmt: skip
    batched = json_ok(_ref("BatchResult"))
    batched["headers"] = replayed
    batched["links"] = {"PayTheFirst": {
        "operationId": "pay", "parameters": {"logAnalysisId": "$response.body#/analyses/0/id"}}}  # fmt: skip
    return pay_ok, analyzed, batched


def _marketplace_paths() -> dict[str, Any]:
    json_ok = _json
    limit = _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100,
                                      "default": 10}, "How many Sub-PKPs to list")  # fmt: skip
    key = _param("Idempotency-Key", "header",
                 {"type": "string", "minLength": 1, "maxLength": MAX_ID, "pattern": "^[!-~]+$"},
                 "Replays the first answer for a repeated request; 409 if reused with another")  # fmt: skip
    pay_ok, analyzed, batched = _money_answers()
    return {
        f"{API}/analyze": {"post": _op(
            "analyze", "Analyse one log; auto-paid when it qualifies (honours Idempotency-Key)",
            analyzed, "400 401 403 409 413 422 429", body="AnalyzeRequest", params=[key])},
        f"{API}/pay/{{logAnalysisId}}": {"post": _op(
            "pay", "Pay an analysis (idempotent; honours Idempotency-Key)", pay_ok,
            "400 401 403 404 409 413 429", admin=True,
            params=[_param("logAnalysisId", "path", _ID, "The analysis to pay"), key])},
        f"{API}/dashboard": {"get": _op(
            "dashboard", "Totals, earnings, top sellers, agents", json_ok(_ref("Dashboard")),
            "401 403 429", admin=True)},
        f"{API}/sub-pkp/{{subPKPId}}": {"get": _op(
            "subPkp", "A Sub-PKP's balance (settled), pending payouts and game state, and a "
            "page of its analyses and transactions, newest first",
            json_ok(_ref("SubPkp")), "400 401 403 404 429",
            params=[_param("subPKPId", "path", _ID, "The Sub-PKP"), *_page(100)])},
        f"{API}/simulate": {"post": _op(
            "simulate", "Sample logs through the real pipeline, never paid",
            json_ok(_ref("Simulation")),
            "400 401 403 413 422 429", body="SimulateRequest", body_required=False)},
        f"{API}/batch-analyze": {"post": _op(
            "batchAnalyze", "Analyse up to 100 logs at once, all or none (honours "
            "Idempotency-Key)", batched, "400 401 403 409 413 422 429", body="BatchRequest",
            params=[key])},
        f"{API}/pricing": {"get": _op(
            "pricing", "The pricing model with worked examples", json_ok(_ref("Pricing")),
            "401 429")},
        f"{API}/agents": {"get": _op("agents", "Per-agent statistics", json_ok(_ref("Agents")),
                                   "401 429")},
        f"{API}/top-earners": {"get": _op(
            "topEarners", "Leaderboard of Sub-PKPs", json_ok(_ref("TopEarners")), "400 401 429",
            params=[limit])},
        f"{API}/quality-trends": {"get": _op(
            "qualityTrends", "Quality and value over time, against targets",
            json_ok(_ref("QualityTrends")),
            "401 429")},
        f"{API}/keys/{{keyId}}/revoke": {"post": _op(
            "revokeKey", "Revoke a Sub-PKP key: its next request or socket hello is refused",
            json_ok(_ref("RevokedKey")), "400 401 403 404 429", admin=True,
            params=[_param("keyId", "path", _ID, "The key id: lmk_<keyId>_<secret>")])},
    }  # fmt: skip


def _page(default: int) -> list[dict[str, Any]]:
    """The paging parameters of a history: how many, and older than what."""
    return [
        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100,
                                  "default": default}, "How many of each to answer"),
        _param("before", "query", {"type": "string", "minLength": 1, "maxLength": MAX_CURSOR},
               "Only what is older: the nextBefore of the previous page (epoch seconds), or "
               "an ISO-8601 time (UTC unless it says otherwise)"),
    ]  # fmt: skip


def _filters() -> list[dict[str, Any]]:
    """The filters of the grouped findings."""
    text = {"type": "string", "minLength": 1, "maxLength": MAX_ID}
    return [
        _param("agent", "query", text, "Only what this agent found (its id)"),
        _param("severity", "query", {"type": "string", "enum": list(SEVERITIES)},
               "Only findings of this severity (a quality finding's: its impact)"),
        _param("subPKPId", "query", text, "Only analyses of this Sub-PKP"),
        _param("paid", "query", {"type": "string", "enum": ["true", "false"]},
               "Only paid (true) or unpaid (false) analyses"),
        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100,
                                  "default": 50}, "How many groups"),
    ]  # fmt: skip


def _settlement_paths() -> dict[str, Any]:
    """The triage queue: payouts by state, paying or holding one, verdicts on findings."""
    tx = _param("transactionId", "path", _ID, "The payment (its transaction id)")
    replayed = {"Idempotent-Replayed": {"description": "Present when the payout had been "
                                        "settled before (this is that settlement)",
                                        "schema": {"type": "string", "enum": ["true"]}}}  # fmt: skip
    settled = _json(_ref("Settlement"), "The settlement transaction (the same one when settled "
                    "before)")  # fmt: skip
    settled["headers"] = replayed
    state = {"type": "string", "enum": ["pending", "held", "settled", "reversed"],
             "default": "pending"}  # fmt: skip
    not_pending = {"409": "not-pending: the payout is not pending (reversed, or settled "
                   "without a settlement transaction); not-reversible: the transaction is a "
                   "settlement or a reversal, not a payment"}  # fmt: skip
    errors = "400 401 403 404 409 413 422 429"
    return {
        f"{API}/payouts": {"get": _op(
            "payouts", "Payouts in one state, newest first, with the findings they pay for",
            _json(_ref("Payouts")), "400 401 403 429", admin=True,
            params=[_param("state", "query", state, "Which payouts (held: pending, kept "
                           "from settling by the admin)"), *_page(50)])},
        f"{API}/payouts/{{transactionId}}/settle": {"post": _op(
            "settlePayout", "Settle a pending or held payout now (idempotent)", settled,
            errors, admin=True, body="PayoutNoteRequest", body_required=False, params=[tx],
            why=not_pending)},
        f"{API}/payouts/{{transactionId}}/hold": {"post": _op(
            "holdPayout", "Keep a pending payout from settling until it is settled or "
            "reversed", _json(_ref("HeldPayout")), errors, admin=True,
            body="PayoutNoteRequest", body_required=False, params=[tx], why=not_pending)},
        f"{API}/findings": {"get": _op(
            "findings", "Findings grouped: one row per finding, with how often, in how many "
            "analyses (paid or not), by which Sub-PKPs and when it was first and last seen",
            _json(_ref("FindingGroups")), "400 401 403 429", admin=True, params=_filters())},
        f"{API}/events/recent": {"get": _op(
            "recentEvents", "The last marketplace events, newest first, and the id to resume "
            "/events from", _json(_ref("RecentEvents")), "400 401 403 429", admin=True,
            params=[_param("limit", "query", {"type": "integer", "minimum": 1, "maximum": 100,
                                              "default": 50}, "How many events")])},
        f"{API}/findings/{{fingerprint}}/verdict": {"post": _op(
            "findingVerdict", "Judge a finding valid or not (the last verdict counts)",
            _json(_ref("Verdict")), "400 401 403 404 413 422 429", admin=True,
            body="VerdictRequest",
            params=[_param("fingerprint", "path", _ID, "The finding's fingerprint")],
            why={"404": "No finding with this fingerprint was ever reported"})},
    }  # fmt: skip


def _ledger_paths() -> dict[str, Any]:
    """Reversing a payment, and the key that signs the ledger."""
    reversed_ok = _json(_ref("Reversal"), "The reversing transaction (the same one when "
                        "the payment was reversed before)")  # fmt: skip
    reversed_ok["headers"] = {"Idempotent-Replayed": {
        "description": "Present when the payment had been reversed before",
        "schema": {"type": "string", "enum": ["true"]}}}  # fmt: skip
    return {
        f"{API}/transactions/{{transactionId}}/reverse": {"post": _op(
            "reverse", "Reverse a payment, pending, held or settled: a signed reversing "
            "transaction; its points taken back", reversed_ok, "400 401 403 404 409 413 422 429",
            admin=True,
            body="ReverseRequest",
            params=[_param("transactionId", "path", _ID, "The payment to reverse")])},
        f"{API}/ledger/public-key": {"get": _op(
            "ledgerPublicKey", "The Ed25519 key that signs the ledger, and the chain's head",
            _json(_ref("LedgerPublicKey")), "401 404 429")},
    }  # fmt: skip


def _events_path() -> dict[str, Any]:
    stream = {
        "description": "Server-Sent Events until the client leaves: each event is `id: <id>`, "
        f"`event: <type>` ({', '.join(sorted(EVENT_TYPES))}, or gap) and "
        "`data: <JSON object>`; a `: keepalive` comment every 15 s",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    resume = "Resume after this event id: missed events are replayed first"
    return {"get": _op(
        "events", "Live marketplace events", stream, "400 401 403 429", admin=True,
        params=[_param("since", "query", _EVENT_ID, resume + " (Last-Event-ID wins)"),
                _param("Last-Event-ID", "header", _EVENT_ID, resume)])}  # fmt: skip


def _open_paths() -> dict[str, Any]:
    """What answers without a token: health, metrics, this document, the dashboard page."""
    page = {"text/html": {"schema": {"type": "string"}}}
    files = {t: {"schema": {"type": "string"}}
             for t in ("text/html", "text/javascript", "text/css", "image/svg+xml", "image/png")}  # fmt: skip
    return {
        "/healthz": {"get": {"operationId": "healthz", "summary": "Liveness", "security": [], "responses": {
            "200": _json(_ref("Health")),
            "503": _json(_ref("Health"), "A daemon stage failed; the body says which and why"),
        }}},
        "/metrics": {"get": {"operationId": "metrics", "summary": "Prometheus metrics", "security": [], "responses": {
            "200": {"description": "The text exposition format",
                    "content": {"text/plain": {"schema": {"type": "string"}}}}}}},
        "/openapi.json": {"get": {"operationId": "openapi", "summary": "This document", "security": [], "responses": {
            "200": _json({"type": "object"})}}},
        "/": {"get": {"operationId": "dashboardPage",
                      "summary": "The dashboard page (asks for the admin token)", "security": [],
                      "responses": {"200": {"description": "OK", "content": page}}}},
        "/static/{name}": {"get": {
            "operationId": "staticFile", "summary": "A file of the dashboard page", "security": [],
            "parameters": [_param("name", "path", {"type": "string", "minLength": 1},
                                  "The file's name")],
            "responses": {"200": {"description": "OK", "content": files},
                          "404": _error("404")}}},
    }  # fmt: skip


@functools.cache
def openapi_spec() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "logmarket",
            "version": "0.1.0",
            "description": "The log data marketplace API of logmarketd.",
        },
        "paths": _marketplace_paths()
        | _settlement_paths()
        | _ledger_paths()
        | {"/events": _events_path()}
        | _open_paths(),
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": _components(),
        },
    }

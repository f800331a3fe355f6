"""The OpenAPI 3.1 document of the daemon's HTTP API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from logmarketd.models import LogAnalysis
from logmarketd.schemas import AnalyzeBody, BatchBody, SimulateBody

__all__ = ["openapi_spec"]


def openapi_spec() -> dict[str, Any]:
    def op(summary: str, *, body: str | None = None, admin: bool = False,
           params: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
        o: dict[str, Any] = {
            "summary": summary + (" (admin token only)" if admin else ""),
            "security": [{"bearer": []}],
            "responses": {
                "200": {"description": "OK", "content": {"application/json": {}}},
                "401": {"$ref": "#/components/responses/Error"},
                "403": {"$ref": "#/components/responses/Error"},
                "429": {"$ref": "#/components/responses/Error"},
            },
        }
        if params:
            o["parameters"] = [{"name": p, "in": "path", "required": True,
                                "schema": {"type": "string"}} for p in params]  # fmt: skip
        if body:
            o["requestBody"] = {"required": True, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{body}"}}}}  # fmt: skip
            o["responses"]["413"] = {"$ref": "#/components/responses/Error"}
            o["responses"]["422"] = {"$ref": "#/components/responses/Error"}
        return o

    base = "/npe/log-marketplace"
    return {
        "openapi": "3.1.0",
        "info": {"title": "logmarket", "version": "0.1.0",
                 "description": "The log data marketplace API of logmarketd."},
        "paths": {
            f"{base}/analyze": {"post": op("Analyse one log; auto-paid when it qualifies",
                                           body="AnalyzeRequest")},
            f"{base}/pay/{{logAnalysisId}}": {"post": op(
                "Pay an analysis (idempotent; honours Idempotency-Key)", admin=True,
                params=["logAnalysisId"])},
            f"{base}/dashboard": {"get": op("Totals, earnings, top sellers, agents", admin=True)},
            f"{base}/sub-pkp/{{subPKPId}}": {"get": op(
                "A Sub-PKP's balance, analyses, transactions and game state",
                params=["subPKPId"])},
            f"{base}/simulate": {"post": op("Sample logs through the real pipeline, never paid",
                                            body="SimulateRequest")},
            f"{base}/batch-analyze": {"post": op("Analyse up to 100 logs at once",
                                                 body="BatchRequest")},
            f"{base}/pricing": {"get": op("The pricing model with worked examples")},
            f"{base}/agents": {"get": op("Per-agent statistics")},
            f"{base}/top-earners": {"get": op("Leaderboard of Sub-PKPs")},
            f"{base}/quality-trends": {"get": op("Quality and value over time, against targets")},
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "OK"}}}},
            "/metrics": {"get": {"summary": "Prometheus metrics",
                                 "responses": {"200": {"description": "OK"}}}},
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                "AnalyzeRequest": AnalyzeBody.model_json_schema(by_alias=True),
                "BatchRequest": BatchBody.model_json_schema(by_alias=True),
                "SimulateRequest": SimulateBody.model_json_schema(by_alias=True),
                "LogAnalysis": LogAnalysis.model_json_schema(by_alias=True),
                "Error": {"type": "object", "required": ["error", "detail"], "properties": {
                    "error": {"type": "string"}, "detail": {"type": "string"}}},
            },
            "responses": {"Error": {"description": "An error", "content": {"application/json": {
                "schema": {"$ref": "#/components/schemas/Error"}}}}},
        },
    }  # fmt: skip

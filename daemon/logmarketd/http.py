"""The HTTP side: aiohttp on 127.0.0.1 by default. Health and Prometheus metrics answer
without a key; the marketplace API (``logmarketd.api``) and ``/events`` need one.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from logmarketd.api import error_middleware
from logmarketd.inbox import InboxWriter
from logmarketd.ingest import IngestServer
from logmarketd.metrics import Metrics
from logmarketd.store import Store
from logmarketd.web import add_dashboard_routes

__all__ = ["INBOX", "INGEST", "METRICS", "STORE", "make_app"]

STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
INBOX = web.AppKey("inbox", InboxWriter)
INGEST = web.AppKey("ingest", IngestServer)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(
    store: Store,
    metrics_: Metrics,
    inbox: InboxWriter,
    ingest: IngestServer,
    *,
    max_body_bytes: int = 1024 * 1024,
) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes, middlewares=[error_middleware])
    app[STORE] = store
    app[METRICS] = metrics_
    app[INBOX] = inbox
    app[INGEST] = ingest
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_dashboard_routes(app)
    return app

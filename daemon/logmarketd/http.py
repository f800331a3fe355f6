"""The HTTP side: aiohttp on 127.0.0.1 by default. Health, Prometheus metrics, and the
marketplace API under ``/npe/log-marketplace/`` (paths and camelCase fields from the seed).
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from logmarketd.inbox import InboxWriter
from logmarketd.ingest import IngestServer
from logmarketd.metrics import Metrics
from logmarketd.store import Store

__all__ = ["INBOX", "INGEST", "METRICS", "STORE", "make_app"]

STORE = web.AppKey("store", Store)
METRICS = web.AppKey("metrics", Metrics)
INBOX = web.AppKey("inbox", InboxWriter)
INGEST = web.AppKey("ingest", IngestServer)

API = "/npe/log-marketplace"


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def dashboard(request: web.Request) -> web.Response:
    store = request.app[STORE]
    counters = await store.counters()
    inbox = request.app[INBOX]
    return web.json_response(
        {
            "ingest": {
                "recordsStored": counters.get("records_stored", 0),
                "recordsDuplicate": counters.get("records_duplicate", 0),
                "batchesStored": counters.get("batches_stored", 0),
                "clientDropped": counters.get("client_dropped", 0),
                "inboxDepth": inbox.depth,
                "connections": request.app[INGEST].connections,
            }
        }
    )


def make_app(
    store: Store, metrics_: Metrics, inbox: InboxWriter, ingest: IngestServer
) -> web.Application:
    app = web.Application(client_max_size=1024 * 1024)
    app[STORE] = store
    app[METRICS] = metrics_
    app[INBOX] = inbox
    app[INGEST] = ingest
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get(f"{API}/dashboard", dashboard)
    return app

"""The HTTP side: aiohttp on 127.0.0.1 by default. Health and Prometheus metrics answer
without a key; the marketplace API (``logmarketd.api``) and ``/events`` need one.
"""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from logmarketd.api import error_middleware
from logmarketd.metrics import Metrics
from logmarketd.web import add_dashboard_routes

__all__ = ["METRICS", "make_app"]

METRICS = web.AppKey("metrics", Metrics)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(metrics_: Metrics, *, max_body_bytes: int = 1024 * 1024) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes, middlewares=[error_middleware])
    app[METRICS] = metrics_
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_dashboard_routes(app)
    return app

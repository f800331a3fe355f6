"""The HTTP side: aiohttp on 127.0.0.1 by default. Health and Prometheus metrics answer
without a key; the marketplace API (``logmarketd.serve.api``) and ``/events`` need one.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from logmarketd.metrics import Metrics
from logmarketd.serve.api import error_middleware
from logmarketd.serve.web import add_dashboard_routes

__all__ = ["METRICS", "Health", "make_app"]

# (stage, reason) of the first daemon stage that died, or None while every stage runs.
Health = Callable[[], tuple[str, str] | None]

METRICS = web.AppKey("metrics", Metrics)
HEALTH: web.AppKey[Health] = web.AppKey("health")


async def healthz(request: web.Request) -> web.Response:
    failure = request.app[HEALTH]()
    if failure is not None:
        stage, reason = failure
        return web.json_response({"status": "failed", "stage": stage, "error": reason}, status=503)
    return web.json_response({"status": "ok"})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def make_app(
    metrics_: Metrics, *, max_body_bytes: int = 1024 * 1024, health: Health = lambda: None
) -> web.Application:
    app = web.Application(client_max_size=max_body_bytes, middlewares=[error_middleware])
    app[METRICS] = metrics_
    app[HEALTH] = health
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    add_dashboard_routes(app)
    return app

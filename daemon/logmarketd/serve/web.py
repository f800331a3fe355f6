"""The dashboard page: ``GET /`` and its static files under ``/static/``.

The page and its files carry no data and need no token; the page asks for the admin token
and then reads the marketplace API and ``/events`` with it. The files ship inside the
package (``logmarketd/serve/static``) and are read once, when the routes are added, so a request
never touches the disk and no path from a request ever reaches the filesystem.
"""

from __future__ import annotations

from importlib import resources

from aiohttp import web

__all__ = ["CONTENT_TYPES", "STATIC_PREFIX", "add_dashboard_routes", "load_static"]

STATIC_PREFIX = "/static/"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}

# The page loads only its own files and talks only to this daemon: the policy makes an
# injected script or a stray external URL fail in the browser instead of leaking the token.
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def load_static() -> dict[str, tuple[bytes, str]]:
    """Every file of the package's ``static`` directory: name -> (bytes, content type)."""
    out: dict[str, tuple[bytes, str]] = {}
    for entry in resources.files("logmarketd.serve").joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2] if "." in entry.name else ""
        if entry.is_file() and suffix in CONTENT_TYPES:
            out[entry.name] = (entry.read_bytes(), CONTENT_TYPES[suffix])
    return out


def add_dashboard_routes(app: web.Application) -> None:
    """Serve the dashboard at ``GET /`` and its files at ``GET /static/<name>``."""
    files = load_static()
    if "index.html" not in files:
        raise FileNotFoundError("logmarketd/serve/static/index.html is missing from the package")

    def respond(name: str) -> web.Response:
        body, content_type = files[name]
        return web.Response(body=body, headers={"Content-Type": content_type, **_HEADERS})

    async def index(request: web.Request) -> web.Response:
        return respond("index.html")

    async def static(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in files:
            raise web.HTTPNotFound(text=f"no static file {name!r}")
        return respond(name)

    app.router.add_get("/", index)
    app.router.add_get(STATIC_PREFIX + "{name}", static)

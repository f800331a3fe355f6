"""The dashboard's page and static files: served with the right types and headers, free of
external addresses, and holding no data until the admin token is given."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from importlib import resources

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from logmarketd.serve.api import error_middleware
from logmarketd.serve.web import add_dashboard_routes, load_static

STATIC = resources.files("logmarketd.serve").joinpath("static")


@pytest.fixture
async def client() -> AsyncIterator[TestClient[web.Request, web.Application]]:
    app = web.Application(middlewares=[error_middleware])
    add_dashboard_routes(app)
    async with TestClient(TestServer(app, host="127.0.0.1")) as c:
        yield c


class _Refs(HTMLParser):
    """Collects every src/href of a page and the ids of elements marked ``hidden``."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.hidden: set[str] = set()
        self.labels: set[str] = set()
        self.inputs: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]
        if "hidden" in a and a.get("id"):
            self.hidden.add(str(a["id"]))
        if tag == "label" and a.get("for"):
            self.labels.add(str(a["for"]))
        if tag == "input" and a.get("id"):
            self.inputs.add(str(a["id"]))


async def test_index_is_html_with_a_strict_policy(
    client: TestClient[web.Request, web.Application],
) -> None:
    """``GET /`` answers the page as text/html, without a token, with a same-origin CSP."""
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/html; charset=utf-8"
    csp = resp.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "connect-src 'self'" in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    body = await resp.text()
    assert body.startswith("<!doctype html>")
    assert "<h1>" in body


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("dashboard.js", "text/javascript; charset=utf-8"),
        ("dashboard.css", "text/css; charset=utf-8"),
        ("index.html", "text/html; charset=utf-8"),
    ],
)
async def test_static_files_have_their_content_types(
    client: TestClient[web.Request, web.Application], name: str, content_type: str
) -> None:
    """Each static file is served byte for byte with the content type of its kind."""
    resp = await client.get(f"/static/{name}")
    assert resp.status == 200
    assert resp.headers["Content-Type"] == content_type
    assert await resp.read() == STATIC.joinpath(name).read_bytes()


async def test_every_asset_the_page_names_is_served(
    client: TestClient[web.Request, web.Application],
) -> None:
    """Every src/href in the page is a local /static/ path that answers 200 (or the empty
    inline icon, which keeps browsers from asking for /favicon.ico)."""
    parser = _Refs()
    parser.feed(await (await client.get("/")).text())
    refs = [r for r in parser.refs if r != "data:,"]
    assert len(refs) == 2, "the page references its script and stylesheet"
    for ref in refs:
        assert ref.startswith("/static/"), ref
        assert (await client.get(ref)).status == 200, ref


@pytest.mark.parametrize(
    "path", ["/static/missing.js", "/static/..%2Fweb.py", "/static/%2E%2E/api.py", "/static/"]
)
async def test_unknown_or_escaping_paths_are_not_found(
    client: TestClient[web.Request, web.Application], path: str
) -> None:
    """Only the package's own static files are served; anything else is a JSON 404."""
    resp = await client.get(path)
    assert resp.status == 404
    assert (await resp.json())["error"] == "not-found"


def test_static_files_name_no_external_address() -> None:
    """No static file names an http:// or https:// address (nothing to fetch off-box)."""
    files = load_static()
    assert {"index.html", "dashboard.js", "dashboard.css"} <= set(files)
    for name, (body, _) in files.items():
        found = re.findall(rb"(?i)https?://", body)
        assert not found, f"{name} names an external address"
        assert b"//cdn" not in body and b"@import" not in body, name


def test_page_shows_only_the_token_form_until_a_token_is_given() -> None:
    """The dashboard starts hidden behind a labelled token form; the script reads the API
    only with a bearer token, keeps it in sessionStorage, and writes data as text."""
    page = STATIC.joinpath("index.html").read_text("utf-8")
    parser = _Refs()
    parser.feed(page)
    assert "dashboard" in parser.hidden and "login" not in parser.hidden
    assert "token-input" in parser.inputs and "token-input" in parser.labels
    script = STATIC.joinpath("dashboard.js").read_text("utf-8")
    assert "sessionStorage" in script and "localStorage" not in script
    assert '"Bearer " + token' in script
    assert "innerHTML" not in script and "document.write" not in script
    assert "EventSource" not in script.replace("EventSource cannot", "")

"""Access-log lines (nginx/Apache common and combined, Python http.server, uvicorn, HAProxy,
PHP's built-in server):
parsed once per analysis and shared by the Error, Performance and Security agents.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from logmarketd.analysis.agents.base import Context

__all__ = ["Request", "endpoint", "requests"]

# anchored at the line start (an optional short prefix such as a vhost or a container name):
# an unanchored search with \S+ is quadratic on a long token
_LINE = re.compile(
    r"^(?:[^\s\[]+ ){0,3}?(?P<ip>[^\s\[]+) [^\s\[]+ (?P<user>[^\s\[]+) \[[^\]]{1,64}\] "
    r'"(?P<method>[A-Z]{3,8}) (?P<target>\S+)(?: HTTP/[\d.]+)?" '
    r'(?P<status>\d{3}) (?:\d+|-)(?: "(?P<ref>[^"]*)" "(?P<ua>(?:[^"\\]|\\.)*)")?(?P<rest>.*)$'
)
# uvicorn / hypercorn: 'INFO:     127.0.0.1:52000 - "GET /x HTTP/1.1" 500 Internal Server Error'
_ASGI = re.compile(
    r'(?P<ip>\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]):\d{1,5} - "(?P<method>[A-Z]{3,8}) (?P<target>\S+) HTTP/[\d.]+" '
    r"(?P<status>\d{3})\b(?P<rest>.*)$"
)
# HAProxy's HTTP log: 'client:port [date] frontend backend/server Tq/Tw/Tc/Tr/Ta status bytes
# cookies cookies termination-state conns queues {headers} "GET /x HTTP/1.1"' (after a syslog
# prefix "haproxy[123]: " when it comes through syslog); the total time Ta is in milliseconds
_HAPROXY = re.compile(
    r"(?:^|\]: )(?P<ip>[\d.]+|\[?[0-9a-fA-F:]+\]?):\d{1,5} \[[^\]]{1,40}\] \S+ \S+/\S+ "
    r"-?\d+/-?\d+/-?\d+/-?\d+/\+?(?P<ta>-?\d+) (?P<status>\d{3}) \+?\d+ \S+ \S+ (?P<term>\S{4}) "
    r'\S+ \S+ (?:\{[^}]*\} )*"(?P<method>[A-Z]{3,8}) (?P<target>\S+)(?: HTTP/[\d.]+)?"'
)
# PHP's built-in server: '[Fri Dec  4 05:00:00 2026] 127.0.0.1:40000 [404]: GET /.env - No such file'
_PHP_SERVER = re.compile(
    r"^\[[^\]]{1,40}\] (?P<ip>[\d.]+|\[[0-9a-fA-F:]+\]):\d{1,5} \[(?P<status>\d{3})\]: (?P<method>[A-Z]{3,8}) (?P<target>\S+)"
)
_RT = re.compile(r"\b(?:rt|request_time|urt|upstream_response_time|rtime)=(\d+(?:\.\d+)?)\b")
_TRAIL = re.compile(r"^\s+(\d+\.\d{3})\s*$")  # nginx '... $request_time' appended as a bare float


@dataclass(frozen=True)
class Request:
    index: int  # line index
    ip: str
    method: str
    target: str
    status: int
    ua: str
    seconds: float | None  # request time, when the format logs one


def _seconds(rest: str) -> float | None:
    """The request time a combined line carries after its fields (rt=, request_time=, a bare
    trailing float), in seconds."""
    if rt := _RT.search(rest):
        return float(rt.group(1))
    tr = _TRAIL.match(rest)
    return float(tr.group(1)) if tr else None


def _request(n: int, line: str) -> Request | None:
    """The access-log request line ``n`` holds (a line with "HTTP/"), in any known format."""
    if m := _LINE.match(line):
        return Request(n, m.group("ip"), m.group("method"), m.group("target"), int(m.group("status")),
                       m.group("ua") or "", _seconds(m.group("rest") or ""))  # fmt: skip
    if "/" in line[:200] and (h := _HAPROXY.search(line)):
        ta = int(h.group("ta"))
        return Request(n, h.group("ip"), h.group("method"), h.group("target"), int(h.group("status")), "",
                       ta / 1000 if ta >= 0 else None)  # fmt: skip
    if a := _ASGI.search(line):
        return Request(
            n, a.group("ip"), a.group("method"), a.group("target"), int(a.group("status")), "", None
        )
    return None


def requests(ctx: Context) -> list[Request]:
    """Every parsed access-log line of the log, in log order (cached on the context)."""
    cached = getattr(ctx, "_requests", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    out: list[Request] = []
    for n in ctx.lines_with("]: "):
        if (p := _PHP_SERVER.match(ctx.lines[n])) is not None:
            out.append(
                Request(
                    n,
                    p.group("ip"),
                    p.group("method"),
                    p.group("target"),
                    int(p.group("status")),
                    "",
                    None,
                )
            )
    for n in ctx.lines_with("HTTP/"):
        if (r := _request(n, ctx.lines[n])) is not None:
            out.append(r)
    out.sort(key=lambda r: r.index)
    ctx._requests = out  # type: ignore[attr-defined]
    return out


_ID = re.compile(r"/(?:\d+|[0-9a-fA-F]{8}-[0-9a-fA-F-]{27,}|[0-9a-fA-F]{16,})(?=/|$)")


def endpoint(req: Request) -> str:
    """``GET /api/orders/{id}``: the request's method and path, ids masked, query dropped."""
    path = req.target.split("?", 1)[0]
    return f"{req.method} {_ID.sub('/{id}', path)}"

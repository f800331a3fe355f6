"""``/openapi.json`` is valid OpenAPI 3.1 and complete: every route, parameter and header,
a schema for every status of every operation, every ``$ref`` resolvable, and the daemon's
real answers (rich ones, from the seed's sample logs) valid against those schemas."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import schemathesis
from logmarketd.metrics import Metrics
from logmarketd.samples import SAMPLES
from logmarketd.serve.api import ROUTES
from logmarketd.serve.http import make_app

from tests.conftest import REPO, DaemonProcess, http
from tests.integration.test_market_crash import genuine_log

API = "/npe/log-marketplace"
SAMPLE = {name: content for name, _, content in SAMPLES}


@pytest.fixture(scope="module")
def market() -> Iterator[DaemonProcess]:
    root = Path(tempfile.mkdtemp(prefix="lmo", dir="/tmp"))
    d = DaemonProcess(root, "--requests-per-minute", "100000", marketplace=True).start()
    try:
        yield d
    finally:
        d.stop()


@pytest.fixture(scope="module")
def spec(market: DaemonProcess) -> dict[str, Any]:
    status, doc = http("GET", market.url + "/openapi.json")
    assert status == 200
    assert isinstance(doc, dict)
    return doc


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def test_the_document_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(spec).validate()  # the OpenAPI 3.1 meta-schema


def test_every_ref_resolves(spec: dict[str, Any]) -> None:
    refs = set(_refs(spec))
    assert refs, "the document uses components"
    dangling = []
    for ref in sorted(refs):
        try:
            _resolve(spec, ref)
        except (KeyError, AssertionError):
            dangling.append(ref)
    assert dangling == []


def test_every_route_is_documented(spec: dict[str, Any]) -> None:
    """The routes the daemon adds (the API's table and the app's own) are the paths."""
    app = make_app(Metrics())
    routed = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource}
    routed |= {(method, path) for method, path, _ in ROUTES}
    routed = {(m, p) for m, p in routed if m != "HEAD"}
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented == routed


def test_every_operation_documents_its_answers(spec: dict[str, Any]) -> None:
    for path, ops in spec["paths"].items():
        for method, op in ops.items():
            assert "200" in op["responses"], (method, path)
            for status, response in op["responses"].items():
                response = _resolve(spec, response["$ref"]) if "$ref" in response else response
                content = response.get("content")
                assert content, (method, path, status)
                assert all("schema" in media for media in content.values()), (path, status)
            if op.get("security") != []:
                assert {"401", "429"} <= set(op["responses"]), (method, path)


def _params(spec: dict[str, Any], path: str, method: str) -> dict[tuple[str, str], Any]:
    op = spec["paths"][path][method]
    return {(p["in"], p["name"]): p["schema"] for p in op.get("parameters", [])}


def test_parameters_and_headers_are_documented_with_their_bounds(spec: dict[str, Any]) -> None:
    limit = _params(spec, f"{API}/top-earners", "get")[("query", "limit")]
    assert (limit["type"], limit["minimum"], limit["maximum"]) == ("integer", 1, 100)
    events = _params(spec, "/events", "get")
    for where, name in (("query", "since"), ("header", "Last-Event-ID")):
        schema = events[(where, name)]
        assert (schema["minimum"], schema["maximum"]) == (0, 2**63 - 1)
    pay = _params(spec, f"{API}/pay/{{logAnalysisId}}", "post")
    assert pay[("header", "Idempotency-Key")]["maxLength"] == 256
    assert pay[("path", "logAnalysisId")]["maxLength"] == 256
    assert _params(spec, f"{API}/sub-pkp/{{subPKPId}}", "get")[("path", "subPKPId")]
    assert "text/event-stream" in spec["paths"]["/events"]["get"]["responses"]["200"]["content"]
    for path, default in ((f"{API}/sub-pkp/{{subPKPId}}", 100), (f"{API}/payouts", 50)):
        page = _params(spec, path, "get")
        limit = page[("query", "limit")]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, default)
        assert (page[("query", "before")]["minLength"], page[("query", "before")]["maxLength"]) == (
            1, 64)  # fmt: skip
    state = _params(spec, f"{API}/payouts", "get")[("query", "state")]
    assert state["enum"] == ["pending", "held", "settled", "reversed"]
    for action in ("settle", "hold"):
        tx = _params(spec, f"{API}/payouts/{{transactionId}}/{action}", "post")
        assert tx[("path", "transactionId")]["maxLength"] == 256
    verdict = _params(spec, f"{API}/findings/{{fingerprint}}/verdict", "post")
    assert verdict[("path", "fingerprint")]["maxLength"] == 256


def test_every_event_type_is_listed(spec: dict[str, Any]) -> None:
    from logmarketd.market.events import EVENT_TYPES

    described = spec["paths"]["/events"]["get"]["responses"]["200"]["description"]
    assert {"log.payment.settled", "log.payment.held", "log.payment.refused"} <= EVENT_TYPES
    assert [t for t in sorted(EVENT_TYPES) if t not in described] == []


def _validator(spec: dict[str, Any], path: str, method: str, status: str = "200") -> Any:
    response = spec["paths"][path][method]["responses"][status]
    schema = dict(response["content"]["application/json"]["schema"])
    schema["components"] = spec["components"]  # the refs point into the document's root
    return jsonschema_rs.validator_for(schema)


def _valid(spec: dict[str, Any], path: str, method: str, body: Any, status: str = "200") -> None:
    errors = [str(e) for e in _validator(spec, path, method, status).iter_errors(body)]
    assert errors == [], (path, errors[:5])


def test_real_answers_match_their_schemas(market: DaemonProcess, spec: dict[str, Any]) -> None:
    """Rich answers the random run rarely reaches: findings with evidence, an auto-paid
    analysis, a manual payment and its replay, a history with transactions."""
    admin = market.admin_token

    def call(method: str, path: str, body: Any = None, **kw: Any) -> Any:
        status, out = http(method, market.url + API + path, body, token=admin, **kw)
        assert status == 200, (path, out)
        return out

    a = call("POST", "/analyze", {"source": "test", "logContent": SAMPLE[
        "test-pytest-failure.log"], "subPKPId": "ola"})  # fmt: skip
    assert "pricing" in a and a["aiInsights"]["errorPatterns"]
    _valid(spec, f"{API}/analyze", "post", a)
    unpaid = call("POST", "/analyze", {"source": "runtime", "logContent": SAMPLE[
        "runtime-traceback.log"], "subPKPId": "ola"})  # fmt: skip
    _valid(spec, f"{API}/analyze", "post", unpaid)
    if not unpaid["paid"]:
        for _ in range(2):  # the second is a replay of the first
            tx = call("POST", f"/pay/{unpaid['id']}", headers={"Idempotency-Key": "ola-1"})
            _valid(spec, f"{API}/pay/{{logAnalysisId}}", "post", tx)
    logs = [{"source": source, "content": content} for _, source, content in SAMPLES]
    _valid(spec, f"{API}/batch-analyze", "post",
           call("POST", "/batch-analyze", {"subPKPId": "pia", "logs": logs[:6]}))  # fmt: skip
    _valid(spec, f"{API}/simulate", "post", call("POST", "/simulate", {"iterations": 4}))
    _valid(spec, f"{API}/simulate", "post", call("POST", "/simulate"))
    history = call("GET", "/sub-pkp/ola")
    assert history["transactions"] and history["analyses"]
    _valid(spec, f"{API}/sub-pkp/{{subPKPId}}", "get", history)
    for name in ("dashboard", "pricing", "agents", "top-earners", "quality-trends"):
        _valid(spec, f"{API}/{name}", "get", call("GET", f"/{name}"))
    status, err = http("GET", market.url + API + "/top-earners?limit=x", token=admin)
    assert status == 400
    _valid(spec, f"{API}/top-earners", "get", err, "400")
    _valid(spec, "/healthz", "get", http("GET", market.url + "/healthz")[1])


def test_settlement_answers_match_their_schemas(
    market: DaemonProcess, spec: dict[str, Any]
) -> None:
    """A pending, a held, a settled and a reversed payout; the queue in each state; a
    history holding a payment, a settlement and a reversal; a verdict; their errors."""
    admin = market.admin_token

    def call(method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        status, out = http(method, market.url + API + path, body, token=admin)
        assert status == expect, (path, out)
        return out

    paid = []
    for n in range(4):  # each a new finding below AUTO_PAY_THRESHOLD: held for the admin
        a = call("POST", "/analyze", {"source": "runtime", "subPKPId": "tri",
                                      "logContent": genuine_log(900 + n)})  # fmt: skip
        assert a["paymentAmount"] > 0, a
        paid.append(a["transactionId"])
    settle, hold = (
        f"{API}/payouts/{{transactionId}}/settle",
        f"{API}/payouts/{{transactionId}}/hold",
    )
    held = call("POST", f"/payouts/{paid[0]}/hold", {"note": "checking"})
    assert held == {"transactionId": paid[0], "status": "held", "note": "checking"}
    _valid(spec, hold, "post", held)
    for tx in paid[1], paid[3]:  # the first settled later, the second stays held
        kept = call("POST", f"/payouts/{tx}/hold")
        assert kept["note"] == "held for triage", kept  # the note the payout keeps
        _valid(spec, hold, "post", kept)
    for _ in range(2):  # the second answers the same settlement
        settlement = call("POST", f"/payouts/{paid[1]}/settle", {"note": "fine"})
        assert settlement["settles"] == paid[1]
        _valid(spec, settle, "post", settlement)
    reversal = call("POST", f"/transactions/{paid[0]}/reverse", {"reason": "made up"})
    _valid(spec, f"{API}/transactions/{{transactionId}}/reverse", "post", reversal)
    for path, tx in ((f"/payouts/{paid[0]}/settle", paid[0]), (f"/payouts/{paid[0]}/hold", paid[0]),
                     (f"/payouts/{settlement['id']}/settle", settlement["id"])):  # fmt: skip
        err = call("POST", path, {}, expect=409)
        assert err["error"] in ("not-pending", "not-reversible"), (tx, err)
        _valid(spec, settle, "post", err, "409")
    _valid(spec, settle, "post", call("POST", "/payouts/tx_nope/settle", expect=404), "404")

    panic = (REPO / "tests/corpus/logs/go_panic.log").read_text()  # one critical, located
    auto = call("POST", "/analyze", {"source": "runtime", "subPKPId": "tri",
                                     "logContent": panic})  # fmt: skip
    assert auto["paid"], auto  # above AUTO_PAY_THRESHOLD: pending until the hold is over
    history = call("GET", "/sub-pkp/tri?limit=100")
    kinds = {("settles" in t, "reverses" in t, t.get("status")) for t in history["transactions"]}
    assert {(True, False, None), (False, True, None), (False, False, "pending"),
            (False, False, "reversed"), (False, False, "settled")} <= kinds, kinds  # fmt: skip
    _valid(spec, f"{API}/sub-pkp/{{subPKPId}}", "get", history)
    page = call("GET", "/sub-pkp/tri?limit=1")
    assert page["nextBefore"] is not None
    _valid(spec, f"{API}/sub-pkp/{{subPKPId}}", "get", page)
    _valid(spec, f"{API}/sub-pkp/{{subPKPId}}", "get",
           call("GET", f"/sub-pkp/tri?before={page['nextBefore']}"))  # fmt: skip
    for state in ("pending", "held", "settled", "reversed"):
        queue = call("GET", f"/payouts?state={state}&limit=100")
        assert queue["payouts"], state
        _valid(spec, f"{API}/payouts", "get", queue)

    fingerprint = call("GET", "/payouts")["payouts"][0]["analysis"]["findings"][0]["fingerprint"]
    verdict = call("POST", f"/findings/{fingerprint}/verdict", {"valid": True})
    _valid(spec, f"{API}/findings/{{fingerprint}}/verdict", "post", verdict)
    judged = call("GET", "/payouts")["payouts"][0]["analysis"]["findings"][0]
    assert judged["valid"] is True
    _valid(spec, f"{API}/payouts", "get", call("GET", "/payouts"))
    err = call("POST", "/findings/never-seen/verdict", {"valid": False}, expect=404)
    _valid(spec, f"{API}/findings/{{fingerprint}}/verdict", "post", err, "404")
    dash = call("GET", "/dashboard")
    assert dash["triage"] and dash["totals"]["pending"] > 0
    _valid(spec, f"{API}/dashboard", "get", dash)
    _valid(spec, f"{API}/top-earners", "get", call("GET", "/top-earners"))
    err = call("GET", "/payouts?before=" + "1" * 65, expect=400)
    _valid(spec, f"{API}/payouts", "get", err, "400")

"""Read-side views of the marketplace for the API: dashboard, a Sub-PKP's history,
leaderboard, agent statistics, quality trends and the pricing sheet.

Queries go to the store's reader (committed data only). Money comes out of the store as
integer micro-dollars and leaves here as numbers with cents.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from logmarketd.analysis.analyse import real_location
from logmarketd.market.game import ACHIEVEMENTS, xp_for_level
from logmarketd.market.ledger import POOL, account, from_micros, pending_account
from logmarketd.market.pricing import BONUSES, PricingRules, price
from logmarketd.models import (
    ErrorPattern,
    Evidence,
    ImprovementOpportunity,
    LogAnalysis,
    PerformanceIssue,
    SecurityConcern,
)
from logmarketd.serve.schemas import SEVERITIES
from logmarketd.settings import Settings
from logmarketd.store.db import Store

__all__ = [
    "PAYOUT_STATES",
    "SEVERITIES",
    "agents",
    "dashboard",
    "example_title",
    "finding_groups",
    "payouts",
    "pricing",
    "quality_trends",
    "recent_events",
    "sub_pkp",
    "top_earners",
]

PAYOUT_STATES = ("pending", "held", "settled", "reversed")

# The seed's targets for quality trends.
TARGETS = {"Quality": 80.0, "Value": 70.0}


def _money(micros: int | None) -> float:
    return float(from_micros(int(micros or 0)))


# A placeholder the template miner puts where values vary (see transform.mining.masking's
# DISPLAY_PATTERNS), with what such a value looks like in a log line.
_SLOTS = {
    "<n>": r"(?:(?<![\w.-])-)?\d+(?:\.\d+)?",  # a minus glued to a word is not a sign
    "<ip>": r"\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?",
    "<ts>": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?",
    "<uuid>": r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}",
    "<hex>": r"0x[0-9a-fA-F]+|[0-9a-f]{12,}",
    "<*>": r"\S+",
}
_SLOT = re.compile("|".join(re.escape(k) for k in _SLOTS))
_EXAMPLES_TRIED = 3  # evidence lines looked at for an example


@functools.lru_cache(maxsize=1024)
def _slots_regex(core: str) -> tuple[re.Pattern[str], int]:
    """A regex for ``core`` (a template from its first placeholder to its last) with each
    placeholder a group, and how many characters of it are literal."""
    out, literal, pos = [], 0, 0
    for m in _SLOT.finditer(core):
        out += [re.escape(core[pos : m.start()]), f"({_SLOTS[m.group()]})"]
        literal += m.start() - pos
        pos = m.end()
    return re.compile("".join(out)), literal


def _common_suffix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _common_prefix(a: str, b: str) -> int:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return n


def example_title(title: str, evidence: Sequence[Evidence]) -> str | None:
    """``title`` with its placeholders (``<n>``, ``<ip>``, ...) filled with the values of the
    evidence line (of the first three) that holds the most of its template around them, or
    None: no placeholder, or no line holding the template with at least 3 literal characters
    of it."""
    slots = list(_SLOT.finditer(title))
    if not slots:
        return None
    start, end = slots[0].start(), slots[-1].end()
    rx, literal = _slots_regex(title[start:end])
    lead, trail = title[:start], title[end:]
    best: tuple[int, re.Match[str]] | None = None
    for ev in evidence[:_EXAMPLES_TRIED]:
        for m in rx.finditer(ev.text):
            held = literal + _common_suffix(lead, ev.text[: m.start()])
            held += _common_prefix(trail, ev.text[m.end() :])
            if held >= 3 and (best is None or held > best[0]):
                best = (held, m)
    if best is None:
        return None
    parts, pos = [], 0
    for slot, value in zip(slots, best[1].groups(), strict=True):
        parts += [title[pos : slot.start()], value]
        pos = slot.end()
    return "".join(parts) + title[pos:]


def _finding_json(kind: str, f: Any, title: str, severity: str | None) -> dict[str, Any]:
    """A finding in brief: its location only when it is a real one (a file position, a
    route, an address: see ``analysis.analyse.real_location``), the title with a real value
    (``example``) when the title is a template."""
    out: dict[str, Any] = {
        "kind": kind, "title": title, "severity": severity,
        "location": f.location if real_location(f.location) else None,
        "fingerprint": f.fingerprint, "count": f.count,
    }  # fmt: skip
    if f.agent_id is not None:
        out["agentId"] = f.agent_id
    example = example_title(title, f.evidence)
    if example is not None:
        out["example"] = example
    return out


def _findings(a: LogAnalysis) -> list[dict[str, Any]]:
    i = a.ai_insights
    return (
        [_finding_json("error", e, e.pattern, e.severity) for e in i.error_patterns]
        + [_finding_json("performance", p, p.issue, p.severity) for p in i.performance_issues]
        + [_finding_json("security", s, s.threat, s.severity) for s in i.security_concerns]
        + [_finding_json("quality", q, q.suggestion, q.impact)
           for q in i.improvement_opportunities]
    )  # fmt: skip


def _summary(a: LogAnalysis) -> dict[str, Any]:
    findings = _findings(a)
    return {
        "id": a.id, "source": a.source, "subPKPId": a.sub_pkp_id,
        "timestamp": a.timestamp.isoformat(), "valueScore": a.value_score,
        "quality": a.quality.overall, "paymentAmount": float(a.payment_amount),
        "paid": a.paid, "payable": _payable(a), "findings": findings[:20],
        "totalFindings": len(findings),
    }  # fmt: skip


def _payable(a: LogAnalysis) -> bool:
    """Whether the admin can pay it from the dashboard: unpaid, earned something, and has a
    Sub-PKP to pay (a daily cap may still refuse it)."""
    return not a.paid and a.sub_pkp_id is not None and a.payment_amount > 0


async def top_earners(
    store: Store, limit: int = 10, *, name: Callable[[str], str] | None = None
) -> list[dict[str, Any]]:
    """The leaderboard by what each Sub-PKP earned and kept (settled and pending payouts,
    reversals taken out); ``name`` shows each Sub-PKP id as the viewer may see it."""
    rows = await store.fetchall(
        "SELECT p.sub_pkp_id, SUM(p.amount_micros),"
        " SUM(CASE WHEN p.state = 'pending' THEN p.amount_micros ELSE 0 END), COUNT(*),"
        " g.xp, g.level"
        " FROM payouts p LEFT JOIN game_state g ON g.sub_pkp_id = p.sub_pkp_id"
        " WHERE p.state != 'reversed' GROUP BY p.sub_pkp_id ORDER BY 2 DESC, 1 LIMIT ?",
        (limit,),
    )
    return [
        {"rank": n + 1, "subPKPId": (name or str)(sub), "totalEarned": _money(earned),
         "pending": _money(pending), "xp": xp or 0, "level": level or 1, "paidLogs": paid}
        for n, (sub, earned, pending, paid, xp, level) in enumerate(rows)
    ]  # fmt: skip


async def agents(store: Store, settings: Settings) -> dict[str, Any]:
    from logmarketd.analysis.agents.registry import agents as registered
    from logmarketd.analysis.agents.registry import is_enabled

    stats = {r[0]: r[1:] for r in await store.fetchall("SELECT * FROM agent_stats")}
    judged = {r[0]: r[1:] for r in await store.fetchall(
        "SELECT agent_id, SUM(valid), COUNT(*) FROM finding_verdicts GROUP BY agent_id"
    )}  # fmt: skip
    out = []
    for agent in registered():
        logs, insights, money = stats.get(agent.id, (0, 0, 0))
        valid, verdicts = judged.get(agent.id, (0, 0))
        out.append({
            "id": agent.id, "name": agent.name, "monitoredStages": list(agent.monitored_stages),
            "enabled": is_enabled(agent, settings), "logsAnalyzed": logs,
            "insightsGenerated": insights, "moneyPaid": _money(money),
            # Measured precision: the share of its findings the admin judged valid in
            # triage; None until one is judged (the corpus figures are in the README).
            "accuracy": round(valid / verdicts, 4) if verdicts else None,
            "accuracySource": "triage" if verdicts else None, "verdicts": verdicts,
        })  # fmt: skip
    return {"agents": out, "totalAgents": len(out),
            "activeAgents": sum(1 for a in out if a["enabled"])}  # fmt: skip


# The ROI of one analysis as it was recorded: improvementPotential.estimatedROI.
_ROI = "COALESCE(SUM(json_extract(body, '$.improvementPotential.estimatedROI')), 0)"


async def quality_trends(store: Store, days: int = 30) -> dict[str, Any]:
    """Average quality and value per day and over the last ``days``, against the targets,
    with the period's ``estimatedROI``: the sum of the analyses' own estimatedROI, each
    valued at the ``engineer_hour_usd`` and ``triage_hours_per_failure`` in force when the
    log was analysed (see ``analysis.scoring``)."""
    since = time.time() - days * 86400
    rows = await store.fetchall(
        "SELECT date(created, 'unixepoch') AS day, AVG(quality), AVG(value_score), COUNT(*),"
        f" {_ROI} FROM analyses WHERE simulated = 0 AND created >= ? GROUP BY day ORDER BY day",
        (since,),
    )
    overall = await store.fetchone(
        f"SELECT AVG(quality), AVG(value_score), COUNT(*), {_ROI} FROM analyses"
        " WHERE simulated = 0 AND created >= ?",
        (since,),
    )
    avg_q, avg_v, count, roi = overall or (None, None, 0, 0)
    avg_q = round(float(avg_q or 0), 1)
    avg_v = round(float(avg_v or 0), 1)
    insights = []
    recommendations = []
    for metric, value in (("Quality", avg_q), ("Value", avg_v)):
        target = TARGETS[metric]
        status = (
            "excellent" if value >= target * 1.1 else "good" if value >= target else "below target"
        )
        insights.append({"metric": metric, "value": value, "target": target, "status": status})
        if status == "below target" and count:
            recommendations.append(
                f"{metric} {value} is below the target {target}: submit logs with complete "
                "context (full stack traces, test names, timings) rather than fragments"
                if metric == "Quality"
                else f"{metric} {value} is below the target {target}: logs with actionable "
                "failures, slow operations or security events are worth the most"
            )
    if count and not recommendations:
        recommendations.append("On target: keep submitting complete, actionable logs")
    if not count:
        recommendations.append("No analysed logs yet in this period")
    return {
        "currentTrends": {
            "averageQuality": avg_q,
            "averageValue": avg_v,
            "analyses": count,
            "estimatedROI": round(float(roi), 2),
        },
        "daily": [
            {
                "day": d,
                "averageQuality": round(q, 1),
                "averageValue": round(v, 1),
                "analyses": n,
                "estimatedROI": round(float(r), 2),
            }
            for d, q, v, n, r in rows
        ],
        "insights": insights,
        "recommendations": recommendations,
    }


async def sub_pkp(
    store: Store, sub_pkp_id: str, limit: int = 100, before: float | None = None
) -> dict[str, Any]:
    """A Sub-PKP's account: ``balance`` (settled), ``pending`` (held payouts), the game, and
    its history newest first, ``limit`` analyses and transactions older than ``before``;
    ``nextBefore`` pages on (None: nothing older)."""
    bal = dict(await store.fetchall(
        "SELECT account, balance_micros FROM balances WHERE account IN (?, ?)",
        (account(sub_pkp_id), pending_account(sub_pkp_id)),
    ))  # fmt: skip
    cut = before if before is not None else float("inf")
    analyses = await store.fetchall(
        "SELECT body, paid, paid_at, created FROM analyses WHERE sub_pkp_id = ? AND simulated = 0"
        " AND created < ? ORDER BY created DESC LIMIT ?",
        (sub_pkp_id, cut, limit),
    )
    txs = await store.fetchall(
        "SELECT t.body, p.state, p.due, t.created FROM transactions t"
        " LEFT JOIN payouts p ON p.tx_id = t.id"
        " WHERE t.sub_pkp_id = ? AND t.created < ? ORDER BY t.created DESC LIMIT ?",
        (sub_pkp_id, cut, limit),
    )
    # One cursor for both lists: where the newer of the full lists ends. What either list
    # holds older than that comes on the next page instead (nothing twice, nothing skipped).
    full = [rows[-1][3] for rows in (analyses, txs) if len(rows) == limit]
    cursor = max(full) if full else None
    if cursor is not None:
        analyses = [r for r in analyses if r[3] >= cursor]
        txs = [r for r in txs if r[3] >= cursor]
    return {
        "subPKPId": sub_pkp_id,
        "balance": _money(bal.get(account(sub_pkp_id))),
        "pending": _money(bal.get(pending_account(sub_pkp_id))),
        "analyses": [_history_analysis(body, paid, paid_at) for body, paid, paid_at, _ in analyses],
        "transactions": [_history_tx(body, state, due) for body, state, due, _ in txs],
        "nextBefore": repr(cursor) if cursor is not None else None,
    } | await _game(store, sub_pkp_id)


def _history_analysis(body: str, paid: int, paid_at: float | None) -> dict[str, Any]:
    a: dict[str, Any] = json.loads(body)
    a["paid"] = bool(paid)
    if paid_at:
        a["paidAt"] = _iso(paid_at)
    return a


def _history_tx(body: str, state: str | None, due: float | None) -> dict[str, Any]:
    """A transaction as history shows it; a payment with its payout's status."""
    tx: dict[str, Any] = json.loads(body)
    if state is not None:
        tx["status"] = "held" if state == "pending" and due is None else state
        if state == "pending" and due is not None:
            tx["settlesAt"] = _iso(due)
    return tx


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))


async def _game(store: Store, sub_pkp_id: str) -> dict[str, Any]:
    game = await store.fetchone(
        "SELECT points_micro, xp, level, achievements FROM game_state WHERE sub_pkp_id = ?",
        (sub_pkp_id,),
    )
    points, xp, level, unlocked = game or (0, 0, 1, "[]")
    names = {a.id: a for a in ACHIEVEMENTS}
    return {
        "points": float(Decimal(points) / 1_000_000),
        "xp": xp,
        "level": level,
        "nextLevelXp": xp_for_level(level + 1),
        "achievements": [
            {"id": i, "name": names[i].name, "description": names[i].description}
            for i in json.loads(unlocked)
            if i in names
        ],
    }


async def payouts(
    store: Store, state: str = "pending", limit: int = 50, before: float | None = None
) -> dict[str, Any]:
    """Payouts in ``state`` (pending, held, settled, reversed), newest first, each with the
    analysis it pays and its findings (with the admin's verdicts): the triage queue."""
    where = {"pending": "p.state = 'pending' AND p.due IS NOT NULL",
             "held": "p.state = 'pending' AND p.due IS NULL"}.get(state, "p.state = ?")  # fmt: skip
    args: tuple[Any, ...] = () if state in ("pending", "held") else (state,)
    rows = await store.fetchall(
        "SELECT p.tx_id, p.sub_pkp_id, p.amount_micros, p.created, p.due, p.state, p.note,"
        " a.body, a.paid FROM payouts p JOIN transactions t ON t.id = p.tx_id"
        f" JOIN analyses a ON a.id = t.analysis_id WHERE {where} AND p.created < ?"
        " ORDER BY p.created DESC LIMIT ?",
        (*args, before if before is not None else float("inf"), limit),
    )
    verdicts = dict(await store.fetchall("SELECT fingerprint, valid FROM finding_verdicts"))
    out = []
    for tx_id, sub, micros, created, due, st, note, body, was_paid in rows:
        analysis = _summary(LogAnalysis.model_validate_json(body).model_copy(
            update={"paid": bool(was_paid)}))  # fmt: skip
        for f in analysis["findings"]:
            if f["fingerprint"] in verdicts:
                f["valid"] = bool(verdicts[f["fingerprint"]])
        out.append({"transactionId": tx_id, "subPKPId": sub, "amount": _money(micros),
                    "created": _iso(created), "settlesAt": _iso(due) if due else None,
                    "status": "held" if st == "pending" and due is None else st, "note": note,
                    "analysis": analysis})  # fmt: skip
    next_before = repr(rows[-1][3]) if len(rows) == limit else None
    return {"state": state, "payouts": out, "nextBefore": next_before}


async def dashboard(store: Store, settings: Settings) -> dict[str, Any]:
    totals = await store.fetchone(
        "SELECT COUNT(*), COALESCE(SUM(paid), 0), COUNT(DISTINCT sub_pkp_id)"
        " FROM analyses WHERE simulated = 0"
    )
    simulated = await store.fetchone("SELECT COUNT(*) FROM analyses WHERE simulated = 1")
    pool = await store.fetchone("SELECT balance_micros FROM balances WHERE account = ?", (POOL,))
    insights = await store.fetchone("SELECT COALESCE(SUM(insights), 0) FROM agent_stats")
    earnings = await store.fetchall(
        "SELECT date(created, 'unixepoch') AS day, SUM(amount_micros), COUNT(*)"
        " FROM transactions WHERE created >= ? AND settles IS NULL GROUP BY day ORDER BY day",
        (time.time() - 30 * 86400,),
    )
    recent = await store.fetchall(
        "SELECT a.body, a.paid, p.tx_id, p.state, p.due FROM analyses a"
        " LEFT JOIN transactions t ON t.analysis_id = a.id AND t.reverses IS NULL"
        " AND t.settles IS NULL LEFT JOIN payouts p ON p.tx_id = t.id"
        " WHERE a.simulated = 0 ORDER BY a.created DESC LIMIT 20"
    )
    counters = await store.counters()
    depth = await store.inbox_depth()
    n, paid, subs = totals or (0, 0, 0)
    recent_out = []
    for body, was_paid, tx_id, state, due in recent:
        a = LogAnalysis.model_validate_json(body)
        recent_out.append(_summary(a.model_copy(update={"paid": bool(was_paid)})))
        if tx_id is not None:  # its payment, and where that payment is
            status = "held" if state == "pending" and due is None else state
            recent_out[-1] |= {"transactionId": tx_id, "payoutStatus": status}
    return {
        "totals": {
            "analyses": n, "paidAnalyses": paid, "subPKPs": subs,
            "totalEarnings": _money(-(pool[0] if pool else 0)),
            "insights": (insights or (0,))[0], "simulatedAnalyses": (simulated or (0,))[0],
            "pending": _money((await store.fetchone(
                "SELECT COALESCE(SUM(amount_micros), 0) FROM payouts WHERE state = 'pending'"
            ) or (0,))[0]),
            "payoutsRefused": {k.split(":", 1)[1]: v for k, v in counters.items()
                               if k.startswith("payouts_refused:")},
        },
        "triage": (await payouts(store, "pending", 20))["payouts"]
        + (await payouts(store, "held", 20))["payouts"],
        "earningsOverTime": [{"day": d, "amount": _money(m), "payments": c}
                             for d, m, c in earnings],
        "topSellers": await top_earners(store, 10),
        "agents": (await agents(store, settings))["agents"],
        "qualityTrends": await quality_trends(store),
        "recentAnalyses": recent_out,
        "ingest": {
            "recordsStored": counters.get("records_stored", 0),
            "recordsDuplicate": counters.get("records_duplicate", 0),
            "batchesStored": counters.get("batches_stored", 0),
            "clientDropped": counters.get("client_dropped", 0),
            "inboxDepth": depth,
        },
    }  # fmt: skip


# -- findings, grouped ------------------------------------------------------------------------

GROUPS_SCAN = 10_000  # the latest analyses grouped findings are looked for in
# Each kind of finding: where it is kept in an analysis, its title and its severity.
_KINDS = (
    ("error", "errorPatterns", "pattern", "severity"),
    ("performance", "performanceIssues", "issue", "severity"),
    ("security", "securityConcerns", "threat", "severity"),
    ("quality", "improvementOpportunities", "suggestion", "impact"),
)


def _case(column: int) -> str:
    """A CASE choosing, by the array a finding is in, its kind (0), title (2) or severity (3)."""
    whens = " ".join(
        f"WHEN '{k[1]}' THEN " + (f"'{k[0]}'" if column == 0 else f"j.value ->> '$.{k[column]}'")
        for k in _KINDS
    )
    return f"CASE k.key {whens} END"


# Each finding of the analyses ``a``, one row each (the body is parsed once per analysis).
_FINDINGS_SQL = (
    "SELECT aid, sub, paid, created, kind, v, sev, agent,"
    " COALESCE(fp, kind || ':' || title) AS fp FROM ("
    "SELECT a.id AS aid, a.sub_pkp_id AS sub, a.paid AS paid, a.created AS created,"
    f" {_case(0)} AS kind, j.value AS v, {_case(3)} AS sev, {_case(2)} AS title,"
    " j.value ->> '$.agentId' AS agent, j.value ->> '$.fingerprint' AS fp"
    " FROM a, json_each(a.body, '$.aiInsights') k, json_each(k.value) j"
    f" WHERE k.key IN ({', '.join(repr(k[1]) for k in _KINDS)}))"
)


def _group_filters(
    agent: str | None, severity: str | None, sub: str | None, paid: bool | None
) -> tuple[str, tuple[Any, ...]]:
    where: list[str] = []
    args: list[Any] = []
    for column, value in (("agent", agent), ("sev", severity), ("sub", sub)):
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)
    if paid is not None:
        where.append("paid = ?")
        args.append(int(paid))
    return (" WHERE " + " AND ".join(where) if where else ""), tuple(args)


async def finding_groups(
    store: Store,
    *,
    agent: str | None = None,
    severity: str | None = None,
    sub_pkp_id: str | None = None,
    paid: bool | None = None,
    limit: int = 50,
) -> dict[str, Any]:
    """The findings of the latest ``GROUPS_SCAN`` analyses (simulated ones left out), one
    group per finding (its fingerprint), seen last first: how often and in how many analyses
    (paid or not) it was found, by which Sub-PKPs, first and last seen, and its first
    occurrence in brief. Filtered by the agent that found it, its severity, the Sub-PKP and
    whether its analysis was paid."""
    where, args = _group_filters(agent, severity, sub_pkp_id, paid)
    rows = await store.fetchall(
        "WITH a AS (SELECT id, sub_pkp_id, paid, created, body FROM analyses"
        " WHERE simulated = 0 ORDER BY created DESC LIMIT ?),"
        f" f AS ({_FINDINGS_SQL}), m AS (SELECT * FROM f{where}),"
        " g AS (SELECT fp, MIN(created) AS first, MAX(created) AS last,"
        " COUNT(DISTINCT aid) AS n, COUNT(DISTINCT CASE WHEN paid THEN aid END) AS npaid,"
        " SUM(COALESCE(json_extract(v, '$.count'), 1)) AS occ,"
        " json_group_array(DISTINCT sub) AS subs FROM m GROUP BY fp),"
        " r AS (SELECT fp, kind, v, ROW_NUMBER() OVER (PARTITION BY fp ORDER BY created, aid)"
        " AS rn FROM m)"
        " SELECT g.fp, g.first, g.last, g.n, g.npaid, g.occ, g.subs, r.kind, r.v,"
        " (SELECT COUNT(*) FROM g), fv.valid FROM g JOIN r ON r.fp = g.fp AND r.rn = 1"
        " LEFT JOIN finding_verdicts fv ON fv.fingerprint = g.fp"
        " ORDER BY g.last DESC, g.fp LIMIT ?",
        (GROUPS_SCAN, *args, limit),
    )
    return {
        "groups": [_group(*row[:9], valid=row[10]) for row in rows],
        "totalGroups": rows[0][9] if rows else 0,
        "agents": agents_list(),
        "subPKPs": [r[0] for r in await store.fetchall(
            "SELECT DISTINCT sub_pkp_id FROM analyses WHERE simulated = 0"
            " AND sub_pkp_id IS NOT NULL ORDER BY 1 LIMIT 200")],
    }  # fmt: skip


def agents_list() -> list[dict[str, str]]:
    """Every registered agent's id and name."""
    from logmarketd.analysis.agents.registry import agents as registered

    return [{"id": a.id, "name": a.name} for a in registered()]


_GROUP_SUBS = 10  # Sub-PKPs named in a group (subPKPCount says how many)
_Kinds = ErrorPattern | PerformanceIssue | SecurityConcern | ImprovementOpportunity
_MODELS: dict[str, type[_Kinds]] = {
    "error": ErrorPattern, "performance": PerformanceIssue, "security": SecurityConcern,
    "quality": ImprovementOpportunity,
}  # fmt: skip
_TITLE = {kind: (title, sev) for kind, _, title, sev in _KINDS}


def _group(
    fp: str, first: float, last: float, n: int, npaid: int, occ: int, subs: str, kind: str,
    body: str, *, valid: int | None,
) -> dict[str, Any]:  # fmt: skip
    f = _MODELS[kind].model_validate_json(body)
    title_field, sev_field = _TITLE[kind]
    brief = _finding_json(kind, f, getattr(f, title_field), getattr(f, sev_field))
    named = sorted(s for s in json.loads(subs) if s is not None)
    brief |= {
        "fingerprint": fp, "occurrences": int(occ), "analyses": n, "paidAnalyses": npaid,
        "unpaidAnalyses": n - npaid, "subPKPs": named[:_GROUP_SUBS], "subPKPCount": len(named),
        "firstSeen": _iso(first), "lastSeen": _iso(last),
    }  # fmt: skip
    del brief["count"]
    if valid is not None:
        brief["valid"] = bool(valid)
    return brief


async def recent_events(store: Store, limit: int = 50) -> dict[str, Any]:
    """The last ``limit`` marketplace events, newest first, as the live stream sends them
    (id, type, payload) with when each was recorded; ``lastId`` is the newest event's id, the
    ``since`` to resume the live stream from (None: no event yet)."""
    rows = await store.fetchall(
        "SELECT id, type, payload, created FROM events ORDER BY id DESC LIMIT ?", (limit,)
    )
    return {
        "events": [{"id": i, "type": t, "payload": json.loads(p), "created": _iso_ms(c)}
                   for i, t, p, c in rows],
        "lastId": rows[0][0] if rows else None,
    }  # fmt: skip


def _iso_ms(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def pricing(rules: PricingRules) -> dict[str, Any]:
    examples = []
    cases = [
        ("healthy heartbeat log, nothing to act on", 40.0, 20.0, {}),
        ("average build log with a first-reported compiler error", 75.0, 65.0,
         {"uniqueness": BONUSES["uniqueness"]}),
        ("test run with a critical crash, first reported", 88.0, 85.0,
         {"uniqueness": BONUSES["uniqueness"], "criticalError": BONUSES["criticalError"]}),
        ("access log with a brute-force attack and a slow endpoint", 92.0, 95.0,
         {"securityIssue": BONUSES["securityIssue"], "performance": BONUSES["performance"],
          "uniqueness": BONUSES["uniqueness"]}),
    ]  # fmt: skip
    for label, q, v, bonuses in cases:
        b = price(quality=q, value_score=v, bonuses=dict(bonuses), rules=rules)
        examples.append({"example": label, "quality": q, "valueScore": v, **b.to_json()})
    return {
        "formula": "Payment = (Base + Quality × Multiplier + Bonuses) × ValueScore / 100",
        "base": 0.10,
        "qualityMultiplier": 0.01,
        "bonuses": {k: float(v) for k, v in BONUSES.items()},
        "minPayment": float(rules.min_payment),
        "maxPayment": float(rules.max_payment),
        "qualityThreshold": rules.quality_threshold,
        "rounding": "exact decimal arithmetic, rounded once to the cent, half to even",
        "uniqueness": "paid to the first reporter of a finding; the same finding again earns none",
        "examples": examples,
    }

"""Read-side views of the marketplace for the API: dashboard, a Sub-PKP's history,
leaderboard, agent statistics, quality trends and the pricing sheet.

Queries go to the store's reader (committed data only). Money comes out of the store as
integer micro-dollars and leaves here as numbers with cents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from logmarketd.market.game import ACHIEVEMENTS, xp_for_level
from logmarketd.market.ledger import POOL, from_micros
from logmarketd.market.pricing import BONUSES, PricingRules, price
from logmarketd.models import LogAnalysis
from logmarketd.settings import Settings
from logmarketd.store.db import Store

__all__ = [
    "agents",
    "dashboard",
    "pricing",
    "quality_trends",
    "sub_pkp",
    "top_earners",
]

# The seed's targets for quality trends.
TARGETS = {"Quality": 80.0, "Value": 70.0}


def _money(micros: int | None) -> float:
    return float(from_micros(int(micros or 0)))


def _summary(a: LogAnalysis) -> dict[str, Any]:
    i = a.ai_insights
    findings = (
        [{"kind": "error", "title": e.pattern, "severity": e.severity, "location": e.location}
         for e in i.error_patterns]
        + [{"kind": "performance", "title": p.issue, "severity": p.severity, "location": p.location}
           for p in i.performance_issues]
        + [{"kind": "security", "title": s.threat, "severity": s.severity, "location": s.location}
           for s in i.security_concerns]
        + [{"kind": "quality", "title": q.suggestion, "severity": q.impact, "location": q.location}
           for q in i.improvement_opportunities]
    )  # fmt: skip
    return {
        "id": a.id, "source": a.source, "subPKPId": a.sub_pkp_id,
        "timestamp": a.timestamp.isoformat(), "valueScore": a.value_score,
        "quality": a.quality.overall, "paymentAmount": float(a.payment_amount),
        "paid": a.paid, "findings": findings[:20],
    }  # fmt: skip


async def top_earners(
    store: Store, limit: int = 10, *, name: Callable[[str], str] | None = None
) -> list[dict[str, Any]]:
    """The leaderboard; ``name`` shows each Sub-PKP id as the viewer may see it."""
    rows = await store.fetchall(
        "SELECT b.account, b.balance_micros, g.xp, g.level,"
        " (SELECT COUNT(*) FROM transactions t WHERE t.sub_pkp_id = substr(b.account, 9)"
        "   AND t.reverses IS NULL)"
        " FROM balances b LEFT JOIN game_state g ON g.sub_pkp_id = substr(b.account, 9)"
        " WHERE b.account LIKE 'sub-pkp:%' ORDER BY b.balance_micros DESC, b.account LIMIT ?",
        (limit,),
    )
    return [
        {"rank": n + 1, "subPKPId": (name or str)(acct[8:]), "totalEarned": _money(bal), "xp": xp or 0,
         "level": level or 1, "paidLogs": paid}
        for n, (acct, bal, xp, level, paid) in enumerate(rows)
    ]  # fmt: skip


async def agents(store: Store, settings: Settings) -> dict[str, Any]:
    from logmarketd.analysis.agents.registry import agents as registered
    from logmarketd.analysis.agents.registry import is_enabled

    stats = {r[0]: r[1:] for r in await store.fetchall("SELECT * FROM agent_stats")}
    out = []
    for agent in registered():
        logs, insights, money = stats.get(agent.id, (0, 0, 0))
        out.append({
            "id": agent.id, "name": agent.name, "monitoredStages": list(agent.monitored_stages),
            "enabled": is_enabled(agent, settings), "logsAnalyzed": logs,
            "insightsGenerated": insights, "moneyPaid": _money(money),
            # Precision is measured offline on the labelled corpus (README); it is not
            # something a running daemon can know about its own findings.
            "accuracy": None,
        })  # fmt: skip
    return {"agents": out, "totalAgents": len(out),
            "activeAgents": sum(1 for a in out if a["enabled"])}  # fmt: skip


async def quality_trends(store: Store, days: int = 30) -> dict[str, Any]:
    since = time.time() - days * 86400
    rows = await store.fetchall(
        "SELECT date(created, 'unixepoch') AS day, AVG(quality), AVG(value_score), COUNT(*)"
        " FROM analyses WHERE simulated = 0 AND created >= ? GROUP BY day ORDER BY day",
        (since,),
    )
    overall = await store.fetchone(
        "SELECT AVG(quality), AVG(value_score), COUNT(*) FROM analyses"
        " WHERE simulated = 0 AND created >= ?",
        (since,),
    )
    avg_q, avg_v, count = overall or (None, None, 0)
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
        "currentTrends": {"averageQuality": avg_q, "averageValue": avg_v, "analyses": count},
        "daily": [
            {"day": d, "averageQuality": round(q, 1), "averageValue": round(v, 1), "analyses": n}
            for d, q, v, n in rows
        ],
        "insights": insights,
        "recommendations": recommendations,
    }


async def sub_pkp(store: Store, sub_pkp_id: str, limit: int = 100) -> dict[str, Any]:
    bal = await store.fetchone(
        "SELECT balance_micros FROM balances WHERE account = ?", (f"sub-pkp:{sub_pkp_id}",)
    )
    analyses = await store.fetchall(
        "SELECT body, paid, paid_at FROM analyses WHERE sub_pkp_id = ? AND simulated = 0"
        " ORDER BY created DESC LIMIT ?",
        (sub_pkp_id, limit),
    )
    txs = await store.fetchall(
        "SELECT body FROM transactions WHERE sub_pkp_id = ? ORDER BY created DESC LIMIT ?",
        (sub_pkp_id, limit),
    )
    game = await store.fetchone(
        "SELECT points_micro, xp, level, achievements FROM game_state WHERE sub_pkp_id = ?",
        (sub_pkp_id,),
    )
    points, xp, level, unlocked = game or (0, 0, 1, "[]")
    names = {a.id: a for a in ACHIEVEMENTS}
    out_analyses = []
    for body, paid, paid_at in analyses:
        a = json.loads(body)
        a["paid"] = bool(paid)
        if paid_at:
            a["paidAt"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(paid_at))
        out_analyses.append(a)
    return {
        "subPKPId": sub_pkp_id,
        "balance": _money(bal[0] if bal else 0),
        "analyses": out_analyses,
        "transactions": [json.loads(b) for (b,) in txs],
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
        " FROM transactions WHERE created >= ? GROUP BY day ORDER BY day",
        (time.time() - 30 * 86400,),
    )
    recent = await store.fetchall(
        "SELECT body, paid FROM analyses WHERE simulated = 0 ORDER BY created DESC LIMIT 20"
    )
    counters = await store.counters()
    depth = await store.inbox_depth()
    n, paid, subs = totals or (0, 0, 0)
    recent_out = []
    for body, was_paid in recent:
        a = LogAnalysis.model_validate_json(body)
        recent_out.append(_summary(a.model_copy(update={"paid": bool(was_paid)})))
    return {
        "totals": {
            "analyses": n, "paidAnalyses": paid, "subPKPs": subs,
            "totalEarnings": _money(-(pool[0] if pool else 0)),
            "insights": (insights or (0,))[0], "simulatedAnalyses": (simulated or (0,))[0],
        },
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

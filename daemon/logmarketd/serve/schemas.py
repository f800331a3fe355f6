"""The API's request bodies, validated at the edge, and the shapes of its responses.

Both feed the OpenAPI document (:mod:`logmarketd.serve.openapi`); unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from logmarketd.models import DataTransaction, LogAnalysis, Model, Source

__all__ = [
    "MAX_BATCH",
    "MAX_CURSOR",
    "MAX_ID",
    "RESPONSES",
    "SEVERITIES",
    "AnalyzeBody",
    "AnalyzeResult",
    "BatchBody",
    "BatchLog",
    "Error",
    "LedgerPublicKey",
    "PayoutNoteBody",
    "ReverseBody",
    "SimulateBody",
    "VerdictBody",
]

MAX_BATCH = 100
MAX_ID = 256  # the longest Sub-PKP id, analysis id or Idempotency-Key we accept
MAX_REASON = 1000  # the longest reason for a reversal, or note on a payout or finding
SEVERITIES = ("critical", "high", "medium", "low")  # a finding's, most severe first
MAX_CURSOR = 64  # the longest paging cursor (``before``): epoch seconds or an ISO-8601 time


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


SubPkpId = Annotated[str, Field(min_length=1, max_length=MAX_ID)]


class AnalyzeBody(_Body):
    source: Source
    log_content: str = Field(alias="logContent", min_length=1)
    sub_pkp_id: SubPkpId | None = Field(None, alias="subPKPId")


class BatchLog(_Body):
    source: Source
    content: str = Field(min_length=1)


class BatchBody(_Body):
    sub_pkp_id: SubPkpId | None = Field(None, alias="subPKPId")
    logs: list[BatchLog] = Field(min_length=1, max_length=MAX_BATCH)


class SimulateBody(_Body):
    sub_pkp_id: SubPkpId | None = Field(None, alias="subPKPId")
    iterations: int = Field(10, ge=1, le=100)


class ReverseBody(_Body):
    """Why a payment is reversed (kept in the reversing transaction, signed with it)."""

    reason: str = Field(min_length=1, max_length=MAX_REASON)


class PayoutNoteBody(_Body):
    """The admin's note on a payout it holds or pays now (kept with the payout)."""

    note: str | None = Field(None, min_length=1, max_length=MAX_REASON)


class VerdictBody(_Body):
    """The admin's verdict on a finding: valid or not, and why (the agents' feedback)."""

    valid: bool
    note: str | None = Field(None, max_length=MAX_REASON)


# -- Responses -------------------------------------------------------------------------------
# What each endpoint answers, for the OpenAPI document (the handlers build plain dicts; the
# schemathesis test checks every answer against these). Unknown fields are refused here too,
# so a field added to a response without its schema fails that test.


class Error(Model):
    """Every error: a short slug (``invalid-request``, ``rate-limited``, ...) and a sentence."""

    error: str
    detail: str


class Health(BaseModel):
    """``ok``; a failing daemon answers 503 and says what failed (more fields may follow)."""

    model_config = ConfigDict(extra="allow")
    status: str


class PriceBreakdown(Model):
    """How the price came to be: every term of the formula (money as numbers, ``raw`` exact)."""

    base: float
    quality_component: float
    bonuses: dict[str, float]
    value_factor: float
    raw: str
    amount: float
    reason: str


class AnalyzeResult(LogAnalysis):
    """A ``LogAnalysis`` with its price breakdown, and the transaction when it was auto-paid."""

    pricing: PriceBreakdown
    transaction_id: str | None = None


PayoutStatus = Literal["pending", "held", "settled", "reversed"]


def _absent(**extra: Any) -> Any:
    """A field left out of an answer when it does not apply (never ``null``): optional in
    the schema, its type without ``null``."""

    def edit(schema: dict[str, Any]) -> None:
        schema.pop("default", None)
        schema.update(extra)

    return Field(None, json_schema_extra=edit)


def _date_time(schema: dict[str, Any]) -> None:
    schema["format"] = "date-time"  # UTC, ``2025-01-31T12:00:00Z``


class Transaction(DataTransaction):
    """A payment: what paying an analysis answers (the same one when paid before)."""


class Reversal(DataTransaction):
    """The transaction reversing a payment: which one (``reverses``) and why."""

    reverses: str
    reason: str


class Settlement(DataTransaction):
    """The transaction settling a payment (``settles``): its money from the Sub-PKP's
    pending account to its balance."""

    settles: str


class HistoryPayment(DataTransaction):
    """A payment in a Sub-PKP's history with its payout's status; ``settlesAt`` (UTC) while
    it is pending (a held one waits for the admin)."""

    status: PayoutStatus
    settles_at: str | SkipJsonSchema[None] = _absent(format="date-time")


class LedgerHead(Model):
    """The last link of the ledger's chain: keep it elsewhere to notice a rolled-back file."""

    sequence: int
    hash: str | None


class LedgerPublicKey(Model):
    """The key that signs the ledger, for ``logmarket ledger verify --public-key``."""

    algorithm: Literal["Ed25519"]
    public_key: str  # base64 of the raw 32 bytes
    pem: str
    fingerprint: str
    head: LedgerHead


class TopEarner(Model):
    """What a Sub-PKP earned and kept (``totalEarned``: settled and pending, reversals out),
    ``pending`` of it still held."""

    rank: int
    sub_pkp_id: str = Field(alias="subPKPId")
    total_earned: float
    pending: float
    xp: int
    level: int
    paid_logs: int


class TopEarners(Model):
    top_earners: list[TopEarner]


class AgentStats(Model):
    id: str
    name: str
    monitored_stages: list[str]
    enabled: bool
    logs_analyzed: int
    insights_generated: int
    money_paid: float
    accuracy: float | None = Field(ge=0, le=1)
    accuracy_source: Literal["triage"] | None
    verdicts: int = Field(ge=0)


class Agents(Model):
    agents: list[AgentStats]
    total_agents: int
    active_agents: int


class Trend(Model):
    """Averages of the analyses of a period; ``estimatedROI`` is the sum of their own
    ``improvementPotential.estimatedROI`` (USD, at the settings ``engineer_hour_usd`` and
    ``triage_hours_per_failure`` in force when each was analysed)."""

    average_quality: float
    average_value: float
    analyses: int
    estimated_roi: float = Field(alias="estimatedROI")


class DailyTrend(Trend):
    day: str


class TrendInsight(Model):
    metric: str
    value: float
    target: float
    status: Literal["excellent", "good", "below target"]


class QualityTrends(Model):
    current_trends: Trend
    daily: list[DailyTrend]
    insights: list[TrendInsight]
    recommendations: list[str]


class Achievement(Model):
    id: str
    name: str
    description: str


class SubPkp(Model):
    """A Sub-PKP's account: ``balance`` (settled), ``pending`` (payouts still held), its game,
    and one page of its history, newest first; ``nextBefore`` is the ``before`` of the next
    page (epoch seconds), ``null`` when nothing is older."""

    sub_pkp_id: str = Field(alias="subPKPId")
    balance: float
    pending: float
    analyses: list[LogAnalysis]
    transactions: list[HistoryPayment | Settlement | Reversal]
    next_before: str | None
    points: float
    xp: int
    level: int
    next_level_xp: int
    achievements: list[Achievement]


class RevokedKey(Model):
    """A Sub-PKP key that is revoked from now on (``revokedAt``: since when, UTC)."""

    key_id: str
    sub_pkp_id: str = Field(alias="subPKPId")
    revoked: bool
    revoked_at: str


class SimulatedAnalysis(Model):
    sample: str
    id: str
    source: Source
    value_score: float
    payment_amount: float
    findings: int


class Simulation(Model):
    simulated: Literal[True]
    sub_pkp_id: str | None = Field(alias="subPKPId")
    iterations: int
    analyses: list[SimulatedAnalysis]
    total_value: float
    note: str


class BatchResult(Model):
    sub_pkp_id: str | None = Field(alias="subPKPId")
    total_logs: int
    total_paid: float
    analyses: list[AnalyzeResult]


class PriceExample(PriceBreakdown):
    example: str
    quality: float
    value_score: float


class Pricing(Model):
    formula: str
    base: float
    quality_multiplier: float
    bonuses: dict[str, float]
    min_payment: float
    max_payment: float
    quality_threshold: float
    rounding: str
    uniqueness: str
    examples: list[PriceExample]


RefusalReason = Literal["sub-pkp-cap", "market-budget"]


class Totals(Model):
    """``pending``: payouts not settled yet (held ones too); ``payoutsRefused``: auto-payments
    a daily cap refused, by the cap."""

    analyses: int
    paid_analyses: int
    sub_pkps: int = Field(alias="subPKPs")
    total_earnings: float
    insights: int
    simulated_analyses: int
    pending: float
    payouts_refused: dict[RefusalReason, Annotated[int, Field(ge=0)]]


class Earnings(Model):
    day: str
    amount: float
    payments: int


FindingKind = Literal["error", "performance", "security", "quality"]


class _FindingBrief(Model):
    """``title`` as the agent wrote it (a template: ``<n>``, ``<ip>``... where values vary);
    ``example`` the title with the values of its first evidence line, when it is a template;
    ``location`` only a real one (a file position, a route, an address), else ``null``;
    ``valid`` the admin's verdict, once there is one."""

    kind: FindingKind
    title: str
    example: str | SkipJsonSchema[None] = _absent()
    severity: str | None
    location: str | None
    fingerprint: str | None
    agent_id: str | SkipJsonSchema[None] = _absent()
    valid: bool | SkipJsonSchema[None] = _absent()


class FindingSummary(_FindingBrief):
    """A finding of one analysis in brief; ``count``: how many times the log holds it."""

    count: int = Field(ge=1)


class FindingGroup(_FindingBrief):
    """One finding across analyses, as first seen: ``occurrences`` in all, in ``analyses``
    analyses (paid or not), by ``subPKPCount`` Sub-PKPs (the first ten named)."""

    fingerprint: str
    occurrences: int = Field(ge=1)
    analyses: int = Field(ge=1)
    paid_analyses: int = Field(ge=0)
    unpaid_analyses: int = Field(ge=0)
    sub_pkps: list[str] = Field(alias="subPKPs")
    sub_pkp_count: int = Field(alias="subPKPCount", ge=0)
    first_seen: str = Field(json_schema_extra=_date_time)
    last_seen: str = Field(json_schema_extra=_date_time)


class AgentRef(Model):
    id: str
    name: str


class FindingGroups(Model):
    """One page of grouped findings, last seen first; ``totalGroups`` match the filters;
    ``agents`` and ``subPKPs`` are what the filters can be."""

    groups: list[FindingGroup]
    total_groups: int = Field(ge=0)
    agents: list[AgentRef]
    sub_pkps: list[str] = Field(alias="subPKPs")


class RecentEvent(Model):
    """An event as the live stream sends it, with when it was recorded (UTC)."""

    id: int = Field(ge=1)
    type: str
    payload: dict[str, Any]
    created: str = Field(json_schema_extra=_date_time)


class RecentEvents(Model):
    """The last events, newest first; ``lastId``: the ``since`` to resume ``/events`` from."""

    events: list[RecentEvent]
    last_id: int | None


class AnalysisSummary(Model):
    id: str
    source: Source
    sub_pkp_id: str | None = Field(alias="subPKPId")
    timestamp: str
    value_score: float
    quality: float
    payment_amount: float
    paid: bool
    payable: bool  # unpaid, earned something, has a Sub-PKP: the admin may pay it
    findings: list[FindingSummary]  # the first twenty
    total_findings: int = Field(ge=0)
    # On the dashboard's recent analyses, once paid: the payment and its payout's status.
    transaction_id: str | SkipJsonSchema[None] = _absent()
    payout_status: PayoutStatus | SkipJsonSchema[None] = _absent()


class Ingest(Model):
    records_stored: int
    records_duplicate: int
    batches_stored: int
    client_dropped: int
    inbox_depth: int


class Payout(Model):
    """A payment waiting for (or past) its settlement, with the analysis it pays: the triage
    queue. ``settlesAt``: when its hold ends (or ended), ``null`` once the admin held it."""

    transaction_id: str
    sub_pkp_id: str = Field(alias="subPKPId")
    amount: float
    created: str = Field(json_schema_extra=_date_time)
    settles_at: str | None = Field(json_schema_extra=_date_time)
    status: PayoutStatus
    note: str | None
    analysis: AnalysisSummary


class Payouts(Model):
    """One page of payouts in ``state``, newest first; ``nextBefore`` as on a Sub-PKP."""

    state: PayoutStatus
    payouts: list[Payout]
    next_before: str | None


class HeldPayout(Model):
    """A payout the admin holds: it settles only when paid, or is reversed."""

    transaction_id: str
    status: Literal["held"]
    note: str


class Verdict(Model):
    """The admin's verdict on a finding, by its fingerprint."""

    fingerprint: str
    valid: bool
    note: str | None


class Dashboard(Model):
    """``triage``: the pending payouts, then the held ones (twenty of each at most)."""

    totals: Totals
    triage: list[Payout]
    earnings_over_time: list[Earnings]
    top_sellers: list[TopEarner]
    agents: list[AgentStats]
    quality_trends: QualityTrends
    recent_analyses: list[AnalysisSummary]
    ingest: Ingest


# Every model a response is documented with, for the OpenAPI components.
RESPONSES: tuple[type[BaseModel], ...] = (
    Error, Health, AnalyzeResult, Transaction, TopEarners, Agents, QualityTrends, SubPkp,
    Simulation, BatchResult, Pricing, Dashboard, LedgerPublicKey, RevokedKey, Reversal,
    Settlement, Payouts, HeldPayout, Verdict, FindingGroups, RecentEvents,
)  # fmt: skip

"""The API's request bodies, validated at the edge, and the shapes of its responses.

Both feed the OpenAPI document (:mod:`logmarketd.serve.openapi`); unknown fields are refused.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from logmarketd.models import DataTransaction, LogAnalysis, Model, Source

__all__ = [
    "MAX_BATCH",
    "MAX_CURSOR",
    "MAX_ID",
    "RESPONSES",
    "AnalyzeBody",
    "AnalyzeResult",
    "BatchBody",
    "BatchLog",
    "Error",
    "LedgerPublicKey",
    "ReverseBody",
    "SimulateBody",
]

MAX_BATCH = 100
MAX_ID = 256  # the longest Sub-PKP id, analysis id or Idempotency-Key we accept
MAX_REASON = 1000  # the longest reason for a reversal
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


class Transaction(DataTransaction):
    """A ledger transaction; a reversal also names the one it reverses and why."""

    reverses: str | None = None
    reason: str | None = None


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
    rank: int
    sub_pkp_id: str = Field(alias="subPKPId")
    total_earned: float
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
    accuracy: float | None


class Agents(Model):
    agents: list[AgentStats]
    total_agents: int
    active_agents: int


class Trend(Model):
    average_quality: float
    average_value: float
    analyses: int


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
    sub_pkp_id: str = Field(alias="subPKPId")
    balance: float
    analyses: list[LogAnalysis]
    transactions: list[Transaction]
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


class Totals(Model):
    analyses: int
    paid_analyses: int
    sub_pkps: int = Field(alias="subPKPs")
    total_earnings: float
    insights: int
    simulated_analyses: int


class Earnings(Model):
    day: str
    amount: float
    payments: int


class FindingSummary(Model):
    kind: Literal["error", "performance", "security", "quality"]
    title: str
    severity: str | None
    location: str | None


class AnalysisSummary(Model):
    id: str
    source: Source
    sub_pkp_id: str | None = Field(alias="subPKPId")
    timestamp: str
    value_score: float
    quality: float
    payment_amount: float
    paid: bool
    findings: list[FindingSummary]


class Ingest(Model):
    records_stored: int
    records_duplicate: int
    batches_stored: int
    client_dropped: int
    inbox_depth: int


class Dashboard(Model):
    totals: Totals
    earnings_over_time: list[Earnings]
    top_sellers: list[TopEarner]
    agents: list[AgentStats]
    quality_trends: QualityTrends
    recent_analyses: list[AnalysisSummary]
    ingest: Ingest


# Every model a response is documented with, for the OpenAPI components.
RESPONSES: tuple[type[BaseModel], ...] = (
    Error, Health, AnalyzeResult, Transaction, TopEarners, Agents, QualityTrends, SubPkp,
    Simulation, BatchResult, Pricing, Dashboard, LedgerPublicKey, RevokedKey,
)  # fmt: skip

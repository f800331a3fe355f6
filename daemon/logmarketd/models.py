"""The seed's data models: ``LogAnalysis``, ``DataTransaction`` and the insight types.

Field names and shapes follow the seed's TypeScript interfaces (camelCase in JSON; the Python
attributes are snake_case through aliases). Fields the seed lacks but a developer needs to act
on a finding (which agent found it, the evidence lines, a stable fingerprint, a location for
performance and security findings) are added as optional extras; nothing of the seed's is
renamed or removed.

Money is ``Decimal`` inside Python; in JSON it is written as a number with cents (the seed's
``number``), e.g. ``5.37``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer
from pydantic.alias_generators import to_camel

__all__ = [
    "SOURCES",
    "AIInsights",
    "DataTransaction",
    "ErrorPattern",
    "Evidence",
    "ImprovementOpportunity",
    "ImprovementPotential",
    "LogAnalysis",
    "ModelRun",
    "Money",
    "PerformanceIssue",
    "PotentialMetric",
    "Quality",
    "Score",
    "SecurityConcern",
    "Severity",
    "Source",
    "TransactionMetadata",
]

Source = Literal["build", "test", "deploy", "runtime"]
SOURCES: tuple[Source, ...] = ("build", "test", "deploy", "runtime")
Severity = Literal["low", "medium", "high", "critical"]
Level = Literal["low", "medium", "high"]
Score = Annotated[float, Field(ge=0, le=100)]
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=6),
    PlainSerializer(lambda d: float(d), return_type=float, when_used="json"),
]


class Model(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=False
    )

    def to_json_dict(self) -> dict[str, object]:
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


class Evidence(Model):
    """A line of the analysed log that supports a finding (1-based line number, redacted text)."""

    line: int = Field(ge=1)
    text: str


class _Finding(Model):
    agent_id: str | None = None
    root_cause: str | None = None
    suggested_fix: str | None = None
    fingerprint: str | None = None
    evidence: list[Evidence] = Field(default_factory=list)
    count: int = Field(1, ge=1)
    # "model": a configured model reported it (grounded in its evidence lines); None: the rules
    found_by: Literal["model"] | None = None


class ErrorPattern(_Finding):
    pattern: str
    location: str
    severity: Severity
    impact: str


class PerformanceIssue(_Finding):
    issue: str
    metric: str
    threshold: float
    actual: float
    optimization: str
    estimated_improvement: str
    location: str | None = None
    severity: Severity | None = None


class SecurityConcern(_Finding):
    threat: str
    severity: Severity
    description: str
    mitigation: str
    location: str | None = None


class ImprovementOpportunity(_Finding):
    area: str
    suggestion: str
    effort: Level
    impact: Level
    location: str | None = None


class AIInsights(Model):
    error_patterns: list[ErrorPattern] = Field(default_factory=list)
    performance_issues: list[PerformanceIssue] = Field(default_factory=list)
    security_concerns: list[SecurityConcern] = Field(default_factory=list)
    improvement_opportunities: list[ImprovementOpportunity] = Field(default_factory=list)


class Quality(Model):
    completeness: Score
    relevance: Score
    actionability: Score
    uniqueness: Score
    overall: Score


class PotentialMetric(Model):
    current: float
    potential: float
    improvement: str


class ImprovementPotential(Model):
    development_speed: PotentialMetric
    code_quality: PotentialMetric
    error_reduction: PotentialMetric
    estimated_roi: float = Field(alias="estimatedROI")


class ModelRun(Model):
    """What a configured model did for one analysis (``llm`` of a ``LogAnalysis``)."""

    provider: str
    model: str | None = None
    source: Literal["llm", "cache", "rules"] = "rules"  # where the discoveries came from
    fallback: str | None = None  # why no model answer was used (budget, breaker-open, ...)
    calls: int = 0  # requests made for this analysis
    tokens: int = 0  # tokens they cost (as the provider reported)
    discovered: int = 0  # model findings kept (``foundBy: "model"``)
    dropped: int = 0  # model findings dropped: not grounded in the log, or already found
    dropped_reasons: dict[str, int] = Field(default_factory=dict)


class LogAnalysis(Model):
    id: str
    source: Source
    timestamp: datetime
    sub_pkp_id: str | None = Field(None, alias="subPKPId")
    ai_insights: AIInsights
    quality: Quality
    value_score: Score
    payment_amount: Money
    improvement_potential: ImprovementPotential
    paid: bool = False
    paid_at: datetime | None = None
    llm: ModelRun | None = None  # set when a model was configured


class TransactionMetadata(Model):
    source: str
    value_score: Score
    quality: Score


class DataTransaction(Model):
    id: str
    type: Literal["log-data"] = "log-data"
    amount: Money
    sub_pkp_id: str = Field(alias="subPKPId")
    analysis_id: str
    timestamp: datetime
    metadata: TransactionMetadata

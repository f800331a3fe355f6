"""The API's request bodies, validated at the edge (pydantic, unknown fields refused)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from logmarketd.models import Source

__all__ = ["MAX_BATCH", "MAX_ID", "AnalyzeBody", "BatchBody", "BatchLog", "SimulateBody"]

MAX_BATCH = 100
MAX_ID = 256  # the longest Sub-PKP id, analysis id or Idempotency-Key we accept


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

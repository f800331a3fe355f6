"""Validation of received frames (the wire protocol is documented in ``logmarket.protocol``).

One pydantic ``TypeAdapter`` parses and checks a whole line in Rust; a frame that fails becomes
a :class:`~logmarketd.errors.FrameError` with a short reason label, which is what gets counted.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Required

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError
from typing_extensions import TypedDict

from logmarketd.errors import FrameError

__all__ = ["Batch", "Frame", "Hello", "Record", "RecordFrame", "parse_frame"]

Source = Literal["build", "test", "deploy", "runtime"]
_Text = Annotated[str, Field(max_length=256)]
_Path = Annotated[str, Field(max_length=4096)]
# Every integer is bounded where it enters: SQLite stores signed 64-bit integers, and a
# number past that (seq 2**63, say) once raised OverflowError deep in the inbox writer.
_Int = Annotated[int, Field(ge=-(2**63), le=2**63 - 1)]
_Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
# Unix seconds from 1970 to the end of year 9999: what datetime can render.
_Ts = Annotated[float, Field(ge=0, le=253_402_300_799, allow_inf_nan=False)]
_Secret = Annotated[str, StringConstraints(min_length=16, max_length=256)]


class Record(TypedDict, total=False):
    """One log record. Only ``message`` is required; unknown keys are kept."""

    __pydantic_config__ = ConfigDict(extra="allow")  # type: ignore[misc]

    message: Required[str]
    ts: _Ts
    level: _Text
    levelno: _Int
    logger: _Path
    file: _Path
    line: _Int
    func: _Path
    thread: _Int
    threadName: _Path
    process: _Int
    exc: str
    stack: str
    extra: dict[str, Any]
    event: dict[str, Any]
    source: Source
    subPKPId: _Text | None
    stream: _Path | None
    eof: bool


class _Frame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Hello(_Frame):
    type: Literal["hello"]
    version: int = 1
    clientId: _Text | None = None
    clientSecret: _Secret | None = None
    key: _Text | None = None  # a Sub-PKP key: the one source of whom the records credit
    host: _Text | None = None
    pid: _Int | None = None
    source: Source = "runtime"
    subPKPId: _Text | None = None
    stream: _Path | None = None
    acks: bool = True
    dropped: _Count = 0


class Batch(_Frame):
    type: Literal["batch"]
    seq: _Count
    dropped: _Count = 0
    records: list[Record]


class RecordFrame(Record, total=False):
    type: Literal["record"]


Frame = Annotated[Hello | Batch | RecordFrame, Field(discriminator="type")]
_adapter: TypeAdapter[Hello | Batch | RecordFrame] = TypeAdapter(Frame)


def parse_frame(line: bytes) -> Hello | Batch | RecordFrame:
    """Validate one line; raises :class:`FrameError` with the reason it is refused."""
    try:
        return _adapter.validate_json(line)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        if errors and errors[0]["type"] == "json_invalid":
            raise FrameError("invalid-json", errors[0]["msg"]) from None
        seq = _seq_of(line)
        first = errors[0] if errors else {"loc": (), "msg": str(exc)}
        where = ".".join(str(p) for p in first["loc"])
        raise FrameError("invalid-frame", f"{where}: {first['msg']}", seq) from None


def _seq_of(line: bytes) -> int | None:
    """The seq of a refused batch, if it has a usable one, so the client can forget it."""
    try:
        obj = json.loads(line)
    except ValueError:
        return None
    seq = obj.get("seq") if isinstance(obj, dict) else None
    return seq if isinstance(seq, int) and not isinstance(seq, bool) else None

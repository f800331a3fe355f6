"""The ledger: analyses, payments and balances, exact and idempotent.

Double-entry in spirit: every payment is one ``transactions`` row (the seed's
DataTransaction) and two immutable ``ledger_entries`` — the amount leaves the marketplace's
pool account and reaches the Sub-PKP's account. Entries are never updated or deleted (SQLite
triggers refuse it); a correction is a reversing transaction. Money is ``Decimal`` in Python
and integer micro-dollars in the store.

A payment, its entries, the balance changes, the game's points/XP/achievements and the events
they cause are written in ONE database transaction: either all of it happened or none did.
Paying an analysis twice returns the first transaction (``UNIQUE(analysis_id)`` backs the
check); concurrent payers take turns on the store's write lock, so they make one.

Signed: with the marketplace's key (``signer``), every transaction and its entries get a
link in the hash chain (:mod:`logmarketd.market.chain`) in the same database transaction,
and ``logmarket ledger verify`` proves offline that nothing was altered, removed or
inserted. A Ledger without a signer (tests, tools) writes unchained rows, which verifying
reports.

A reversal is the way back: one per payment (asking again answers the first), never of a
reversal; it takes back the points the payment gave (and their XP). Achievements, and the XP
they gave, stay: they were earned on the way.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiosqlite

from logmarketd.errors import LogmarketdError
from logmarketd.market.chain import append_link, seal_genesis
from logmarketd.market.events import Event, append_event
from logmarketd.market.game import (
    GameRules,
    GameState,
    PaymentFacts,
    award,
    level_for_xp,
    points_for,
)
from logmarketd.market.signing import LedgerKey
from logmarketd.models import DataTransaction, LogAnalysis, TransactionMetadata
from logmarketd.store.db import Store

__all__ = [
    "POOL",
    "EventSink",
    "Ledger",
    "NotFoundError",
    "NotPayableError",
    "NotReversibleError",
    "PaymentResult",
    "ReversalResult",
    "from_micros",
    "to_micros",
]

POOL = "marketplace:pool"
MICRO = Decimal("0.000001")


# (conn, [(type, payload)], now) -> the recorded events (published after the commit)
EventSink = Callable[
    [aiosqlite.Connection, list[tuple[str, dict[str, Any]]], float], Awaitable[list[Event]]
]


async def outbox_sink(
    conn: aiosqlite.Connection, events: list[tuple[str, dict[str, Any]]], now: float
) -> list[Event]:
    """Write events to the outbox in the caller's transaction."""
    return [await append_event(conn, kind, payload, now) for kind, payload in events]


class NotFoundError(LogmarketdError, LookupError):
    """No such analysis."""


class NotPayableError(LogmarketdError, ValueError):
    """The analysis cannot be paid (nothing earned, simulated, no Sub-PKP, cap reached)."""


class NotReversibleError(LogmarketdError, ValueError):
    """The transaction is itself a reversal."""


def to_micros(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) * MICRO).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class PaymentResult:
    transaction: DataTransaction
    created: bool
    events: list[Event]


@dataclass(frozen=True, slots=True)
class ReversalResult:
    transaction: DataTransaction  # the reversing transaction
    reverses: str  # the payment it reverses
    reason: str
    created: bool  # False: the payment had been reversed before (this is that reversal)
    events: list[Event]

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> ReversalResult:
        """A stored reversal (its body as kept in ``transactions``), answered again."""
        reverses, reason = str(body.pop("reverses")), str(body.pop("reason"))
        return cls(DataTransaction.model_validate(body), reverses, reason, False, [])

    def to_json(self) -> dict[str, Any]:
        body = self.transaction.model_dump(mode="json", by_alias=True)
        return body | {"reverses": self.reverses, "reason": self.reason}


class Ledger:
    def __init__(
        self,
        store: Store,
        game_rules: GameRules,
        *,
        events: EventSink = outbox_sink,
        daily_cap: Decimal | None = None,
        clock: Callable[[], float] = time.time,
        signer: LedgerKey | None = None,
    ) -> None:
        self.store = store
        self.signer = signer
        self.game_rules = game_rules
        self.events = events
        self.daily_cap = daily_cap
        self.clock = clock
        self._sealed = False

    # -- recording analyses -----------------------------------------------------------

    async def new_fingerprints(
        self, conn: aiosqlite.Connection, fingerprints: list[str]
    ) -> set[str]:
        """Which of these findings nobody has reported before (inside the caller's tx)."""
        if not fingerprints:
            return set()
        marks = ",".join("?" * len(fingerprints))
        async with conn.execute(
            f"SELECT fingerprint FROM findings_seen WHERE fingerprint IN ({marks})", fingerprints
        ) as cur:
            seen = {row[0] for row in await cur.fetchall()}
        return set(fingerprints) - seen

    async def record(
        self,
        conn: aiosqlite.Connection,
        analysis: LogAnalysis,
        *,
        new_fingerprints: set[str],
        simulated: bool,
        content_sha256: str | None,
    ) -> None:
        """Store an analysis and claim its new findings (inside the caller's tx)."""
        now = analysis.timestamp.timestamp()
        if not simulated:
            await conn.executemany(
                "INSERT OR IGNORE INTO findings_seen VALUES (?, ?, ?, ?)",
                [(fp, analysis.id, analysis.sub_pkp_id, now) for fp in sorted(new_fingerprints)],
            )
        await conn.execute(
            "INSERT INTO analyses (id, sub_pkp_id, source, created, simulated, value_score,"
            " quality, payment_micros, paid, paid_at, content_sha256, body)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, ?)",
            (analysis.id, analysis.sub_pkp_id, analysis.source, now, int(simulated),
             analysis.value_score, analysis.quality.overall,
             to_micros(analysis.payment_amount), content_sha256,
             analysis.model_dump_json(by_alias=True)),
        )  # fmt: skip

    # -- paying -------------------------------------------------------------------------

    async def pay(self, analysis_id: str) -> PaymentResult:
        """Pay an analysis once; paying again returns the first transaction."""
        async with self.store.transaction() as conn:
            return await self.pay_in(conn, analysis_id)

    async def head(self) -> tuple[int, str | None]:
        """The chain's head: the sequence number and hash of its last link (0, None: empty)."""
        row = await self.store.fetchone("SELECT seq, hash FROM ledger_head WHERE id = 1")
        return (int(row[0]), str(row[1])) if row else (0, None)

    async def analysis(self, conn: aiosqlite.Connection, analysis_id: str) -> LogAnalysis:
        """A recorded analysis; ``NotFoundError`` when there is none."""
        async with conn.execute("SELECT body FROM analyses WHERE id = ?", (analysis_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no analysis {analysis_id}")
        return LogAnalysis.model_validate_json(row[0])

    async def pay_in(self, conn: aiosqlite.Connection, analysis_id: str) -> PaymentResult:
        async with conn.execute(
            "SELECT body FROM transactions WHERE analysis_id = ? AND reverses IS NULL",
            (analysis_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            return PaymentResult(DataTransaction.model_validate_json(row[0]), False, [])
        async with conn.execute(
            "SELECT body, simulated FROM analyses WHERE id = ?", (analysis_id,)
        ) as cur:
            arow = await cur.fetchone()
        if arow is None:
            raise NotFoundError(f"no analysis {analysis_id}")
        analysis = LogAnalysis.model_validate_json(arow[0])
        if arow[1]:
            raise NotPayableError("a simulated analysis is never paid")
        if analysis.sub_pkp_id is None:
            raise NotPayableError("the analysis has no Sub-PKP to pay")
        amount = analysis.payment_amount
        if amount <= 0:
            raise NotPayableError("the analysis earned nothing (quality below the threshold)")
        now = self.clock()
        if self.daily_cap is not None:
            day_start = now - (now % 86400)
            async with conn.execute(
                "SELECT COALESCE(SUM(amount_micros), 0) FROM transactions"
                " WHERE sub_pkp_id = ? AND created >= ?",
                (analysis.sub_pkp_id, day_start),
            ) as cur:
                (paid_today,) = await cur.fetchone()  # type: ignore[misc]
            if from_micros(int(paid_today)) + amount > self.daily_cap:
                raise NotPayableError(
                    f"daily payout cap {self.daily_cap} reached for {analysis.sub_pkp_id}"
                )
        tx = DataTransaction(
            id=f"tx_{uuid.uuid4().hex}",
            amount=amount,
            sub_pkp_id=analysis.sub_pkp_id,
            analysis_id=analysis.id,
            timestamp=datetime.fromtimestamp(now, UTC),
            metadata=TransactionMetadata(
                source=analysis.source,
                value_score=analysis.value_score,
                quality=analysis.quality.overall,
            ),
        )
        await self._post(conn, tx, now)
        await conn.execute(
            "UPDATE analyses SET paid = 1, paid_at = ? WHERE id = ?", (now, analysis.id)
        )
        events = [("log.payment.executed", {
            "subPKPId": analysis.sub_pkp_id, "amount": float(amount), "analysisId": analysis.id,
            "transactionId": tx.id,
        })]  # fmt: skip
        events += await self._award(conn, analysis, amount, now, tx.id)
        published = await self.events(conn, events, now)
        return PaymentResult(tx, True, published)

    async def seal(self) -> int:
        """Chain the transactions stored before the ledger was signed (once); how many."""
        if self.signer is None:
            return 0
        async with self.store.transaction() as conn:
            self._sealed = True
            return await seal_genesis(conn, self.signer)

    async def reverse(self, transaction_id: str, reason: str) -> ReversalResult:
        """Correct a payment with a reversing transaction (the original stays as it was) and
        take back its points. Reversing it again answers the first reversal; a reversal
        itself is :class:`NotReversibleError`."""
        async with self.store.transaction() as conn:
            async with conn.execute(
                "SELECT body, reverses FROM transactions WHERE id = ?", (transaction_id,)
            ) as cur:
                row = await cur.fetchone()
            if row is None:
                raise NotFoundError(f"no transaction {transaction_id}")
            if row[1] is not None:
                raise NotReversibleError(f"{transaction_id} is a reversal: it cannot be reversed")
            async with conn.execute(
                "SELECT body FROM transactions WHERE reverses = ?", (transaction_id,)
            ) as cur:
                done = await cur.fetchone()
            if done is not None:
                return ReversalResult.from_body(json.loads(done[0]))
            original = DataTransaction.model_validate_json(row[0])
            now = self.clock()
            reversal = original.model_copy(
                update={"id": f"tx_{uuid.uuid4().hex}", "amount": original.amount,
                        "timestamp": datetime.fromtimestamp(now, UTC)}
            )  # fmt: skip
            await self._post(conn, reversal, now, reverses=original.id, reason=reason)
            points = await self._take_back(conn, original)
            events = [("log.payment.reversed", {
                "subPKPId": original.sub_pkp_id, "amount": float(original.amount),
                "analysisId": original.analysis_id, "transactionId": reversal.id,
                "reverses": original.id, "reason": reason, "points": float(points),
            })]  # fmt: skip
            published = await self.events(conn, events, now)
            return ReversalResult(reversal, original.id, reason, True, published)

    async def _post(
        self,
        conn: aiosqlite.Connection,
        tx: DataTransaction,
        now: float,
        *,
        reverses: str | None = None,
        reason: str | None = None,
    ) -> None:
        if self.signer is not None and not self._sealed:
            # Rows from before signing take their links first, in the order they came.
            await seal_genesis(conn, self.signer)
            self._sealed = True
        micros = to_micros(tx.amount) * (-1 if reverses else 1)
        body = tx.model_dump(mode="json", by_alias=True)
        if reverses:
            body["reverses"] = reverses
            body["reason"] = reason
        await conn.execute(
            "INSERT INTO transactions (id, analysis_id, sub_pkp_id, amount_micros, created,"
            " reverses, body) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (tx.id, tx.analysis_id, tx.sub_pkp_id, micros, now, reverses, json.dumps(body)),
        )  # fmt: skip
        account = f"sub-pkp:{tx.sub_pkp_id}"
        await conn.executemany(
            "INSERT INTO ledger_entries (tx_id, account, amount_micros, created) VALUES (?, ?, ?, ?)",
            [(tx.id, POOL, -micros, now), (tx.id, account, micros, now)],
        )
        await conn.executemany(
            "INSERT INTO balances (account, balance_micros) VALUES (?, ?) ON CONFLICT(account)"
            " DO UPDATE SET balance_micros = balance_micros + excluded.balance_micros",
            [(POOL, -micros), (account, micros)],
        )
        if self.signer is not None:
            await append_link(conn, self.signer, tx.id)

    async def _award(
        self,
        conn: aiosqlite.Connection,
        analysis: LogAnalysis,
        amount: Decimal,
        now: float,
        tx_id: str,
    ) -> list[tuple[str, dict[str, Any]]]:
        assert analysis.sub_pkp_id is not None
        state = await self._game_state(conn, analysis.sub_pkp_id)
        insights = analysis.ai_insights
        async with conn.execute(
            "SELECT COUNT(*) FROM findings_seen WHERE first_analysis = ?", (analysis.id,)
        ) as cur:
            (new_findings,) = await cur.fetchone()  # type: ignore[misc]
        facts = PaymentFacts(
            sub_pkp_id=analysis.sub_pkp_id,
            analysis_id=analysis.id,
            amount=amount,
            quality=analysis.quality.overall,
            day=datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%d"),
            critical_errors=sum(1 for e in insights.error_patterns if e.severity == "critical"),
            serious_security=sum(
                1 for s in insights.security_concerns if s.severity in ("high", "critical")
            ),
            performance_issues=sum(
                1 for p in insights.performance_issues if p.actual > p.threshold
            ),
            new_findings=int(new_findings),
        )
        new_state, events = award(state, facts, self.game_rules)
        await self._save_game(conn, analysis.sub_pkp_id, new_state)
        points = new_state.points - state.points
        await conn.execute(
            "INSERT INTO payment_awards (tx_id, points_micro, xp) VALUES (?, ?, ?)",
            (tx_id, to_micros(points), int(points)),
        )
        return events

    async def _take_back(self, conn: aiosqlite.Connection, tx: DataTransaction) -> Decimal:
        """Undo what a payment gave in the game (its points and their XP); the points."""
        async with conn.execute(
            "SELECT points_micro, xp FROM payment_awards WHERE tx_id = ?", (tx.id,)
        ) as cur:
            row = await cur.fetchone()
        if row is not None:
            points, xp = Decimal(row[0]) * MICRO, int(row[1])
        else:  # paid before awards were kept: the rules in force now say what it gave
            points = points_for(tx.amount, tx.metadata.quality, self.game_rules)
            xp = int(points)
        state = await self._game_state(conn, tx.sub_pkp_id)
        stats = dict(state.stats)
        stats["paidLogs"] = max(0, int(stats.get("paidLogs", 0)) - 1)
        stats["earnedCents"] = max(0, int(stats.get("earnedCents", 0)) - int(tx.amount * 100))
        left_xp = max(0, state.xp - xp)
        await self._save_game(conn, tx.sub_pkp_id, GameState(
            points=max(Decimal(0), state.points - points), xp=left_xp,
            level=level_for_xp(left_xp), stats=stats, achievements=state.achievements,
        ))  # fmt: skip
        return points

    async def _save_game(self, conn: aiosqlite.Connection, sub: str, state: GameState) -> None:
        await conn.execute(
            "INSERT INTO game_state VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(sub_pkp_id) DO UPDATE"
            " SET points_micro = excluded.points_micro, xp = excluded.xp, level = excluded.level,"
            " stats = excluded.stats, achievements = excluded.achievements",
            (sub, to_micros(state.points), state.xp, state.level, json.dumps(state.stats),
             json.dumps(sorted(state.achievements))),
        )  # fmt: skip

    async def _game_state(self, conn: aiosqlite.Connection, sub_pkp_id: str) -> GameState:
        async with conn.execute(
            "SELECT points_micro, xp, level, stats, achievements FROM game_state"
            " WHERE sub_pkp_id = ?",
            (sub_pkp_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            return GameState()
        return GameState(
            points=Decimal(row[0]) * MICRO,
            xp=int(row[1]),
            level=int(row[2]),
            stats=json.loads(row[3]),
            achievements=frozenset(json.loads(row[4])),
        )

"""The ledger: analyses, payments and balances, exact and idempotent.

Double-entry in spirit: every payment is one ``transactions`` row (the seed's
DataTransaction) and two immutable ``ledger_entries`` — the amount leaves the marketplace's
pool account and reaches the Sub-PKP's pending account (``pending:sub-pkp:ID``), where it
is held for ``hold_seconds`` (triage: the admin can hold it longer or reverse it) before a
settlement transaction moves it to the Sub-PKP's account (``sub-pkp:ID``, the balance).
With no hold a payment credits the balance at once. Entries are never updated or deleted (SQLite
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
reversal; it takes the money back from where it is (pending or settled) and takes back the
points the payment gave (and their XP). Achievements, and the XP they gave, stay: they were
earned on the way.

Caps: a payment that would take a Sub-PKP's payouts of the UTC day past ``daily_cap``, or the
whole market's past ``daily_budget``, is refused (:class:`CapReachedError`).
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
from logmarketd.store.engine import MarketStore

__all__ = [
    "POOL",
    "CapReachedError",
    "EventSink",
    "Ledger",
    "LinkedResult",
    "NotFoundError",
    "NotPayableError",
    "NotReversibleError",
    "NotSettleableError",
    "PaymentResult",
    "account",
    "from_micros",
    "pending_account",
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
    """The transaction is itself a reversal or a settlement."""


class NotSettleableError(LogmarketdError, ValueError):
    """The payout is not pending (settled or reversed already, or not a payment)."""


class CapReachedError(NotPayableError):
    """The payment would cross a daily cap: ``reason`` says which (``sub-pkp-cap``,
    ``market-budget``)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def account(sub_pkp_id: str) -> str:
    """A Sub-PKP's settled account: its balance."""
    return f"sub-pkp:{sub_pkp_id}"


def pending_account(sub_pkp_id: str) -> str:
    """Where a Sub-PKP's payouts wait for the hold to end."""
    return f"pending:sub-pkp:{sub_pkp_id}"


def to_micros(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_micros(micros: int) -> Decimal:
    return (Decimal(micros) * MICRO).quantize(Decimal("0.01"))


@dataclass(frozen=True, slots=True)
class PaymentResult:
    transaction: DataTransaction
    created: bool
    events: list[Event]


_LINKS = ("reverses", "reason", "settles")


@dataclass(frozen=True, slots=True)
class LinkedResult:
    """A transaction about a payment: its reversal (``reverses``, ``reason``) or its
    settlement (``settles``)."""

    transaction: DataTransaction
    links: dict[str, str]
    created: bool  # False: it had been done before (this is that transaction)
    events: list[Event]

    @property
    def reverses(self) -> str | None:
        return self.links.get("reverses")

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> LinkedResult:
        """A stored one (its body as kept in ``transactions``), answered again."""
        links = {k: str(body.pop(k)) for k in _LINKS if k in body}
        return cls(DataTransaction.model_validate(body), links, False, [])

    def to_json(self) -> dict[str, Any]:
        return self.transaction.model_dump(mode="json", by_alias=True) | self.links


class Ledger:
    def __init__(
        self,
        store: MarketStore,
        game_rules: GameRules,
        *,
        events: EventSink = outbox_sink,
        daily_cap: Decimal | None = None,
        daily_budget: Decimal | None = None,
        hold_seconds: float = 0.0,
        clock: Callable[[], float] = time.time,
        signer: LedgerKey | None = None,
    ) -> None:
        self.store = store
        self.daily_budget = daily_budget
        self.hold_seconds = hold_seconds
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

    async def pay_in(
        self, conn: aiosqlite.Connection, analysis_id: str, *, review: bool = False
    ) -> PaymentResult:
        """Pay an analysis in the caller's transaction (see :meth:`pay`). The payout is held
        ``hold_seconds`` before it settles; with ``review`` it waits for the admin instead."""
        async with conn.execute(
            "SELECT body FROM transactions"
            " WHERE analysis_id = ? AND reverses IS NULL AND settles IS NULL",
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
        await self._within_caps(conn, analysis.sub_pkp_id, amount, now)
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
        status, due = await self._credit(conn, tx, now, review)
        await conn.execute(
            "UPDATE analyses SET paid = 1, paid_at = ? WHERE id = ?", (now, analysis.id)
        )
        events = [("log.payment.executed", {
            "subPKPId": tx.sub_pkp_id, "amount": float(amount), "analysisId": analysis.id,
            "transactionId": tx.id, "status": status,
            "settlesAt": _iso(due) if due is not None else None,
        })]  # fmt: skip
        events += await self._award(conn, analysis, amount, now, tx.id)
        published = await self.events(conn, events, now)
        return PaymentResult(tx, True, published)

    async def _credit(
        self, conn: aiosqlite.Connection, tx: DataTransaction, now: float, review: bool
    ) -> tuple[str, float | None]:
        """Post a payment to the Sub-PKP's pending account (settled at once when there is no
        hold and no review) and queue its payout; its status and when it settles (None: when
        the admin says)."""
        sub = tx.sub_pkp_id
        due: float | None = None if review else now + max(0.0, self.hold_seconds)
        if not review and self.hold_seconds <= 0:
            status, credit = "settled", account(sub)
        else:
            status, credit = ("held" if review else "pending"), pending_account(sub)
        await self._post(conn, tx, now, POOL, credit)
        await conn.execute(
            "INSERT INTO payouts (tx_id, sub_pkp_id, amount_micros, created, due, state)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (tx.id, sub, to_micros(tx.amount), now, due,
             "settled" if status == "settled" else "pending"),
        )  # fmt: skip
        return status, due

    async def seal(self) -> int:
        """Chain the transactions stored before the ledger was signed (once); how many."""
        if self.signer is None:
            return 0
        async with self.store.transaction() as conn:
            self._sealed = True
            return await seal_genesis(conn, self.signer)

    async def reverse(self, transaction_id: str, reason: str) -> LinkedResult:
        """Correct a payment, pending or settled, with a reversing transaction (the original
        stays as it was) and take back its points. Reversing it again answers the first
        reversal; a reversal or a settlement itself is :class:`NotReversibleError`."""
        async with self.store.transaction() as conn:
            original, state = await self._payment(conn, transaction_id, "reversed")
            if isinstance(original, LinkedResult):
                return original
            now = self.clock()
            reversal = original.model_copy(
                update={"id": f"tx_{uuid.uuid4().hex}", "amount": original.amount,
                        "timestamp": datetime.fromtimestamp(now, UTC)}
            )  # fmt: skip
            sub = original.sub_pkp_id
            held_in = pending_account(sub) if state == "pending" else account(sub)
            links = {"reverses": original.id, "reason": reason}
            await self._post(conn, reversal, now, held_in, POOL, links)
            await self._set_state(conn, original.id, "reversed", reason)
            points = await self._take_back(conn, original)
            events = [("log.payment.reversed", {
                "subPKPId": sub, "amount": float(original.amount),
                "analysisId": original.analysis_id, "transactionId": reversal.id,
                "reverses": original.id, "reason": reason, "points": float(points),
                "was": state,
            })]  # fmt: skip
            published = await self.events(conn, events, now)
            return LinkedResult(reversal, links, True, published)

    async def settle(self, transaction_id: str, note: str | None = None) -> LinkedResult:
        """Settle a pending payout now (the admin's "pay"): its money moves from the
        Sub-PKP's pending account to its balance. Settling again answers the settlement;
        a reversed payout is :class:`NotSettleableError`."""
        async with self.store.transaction() as conn:
            return await self.settle_in(conn, transaction_id, note)

    async def settle_due(self, limit: int = 200) -> list[LinkedResult]:
        """Settle the payouts whose hold is over (held ones wait for the admin), up to
        ``limit`` in one transaction, oldest first."""
        async with self.store.transaction() as conn:
            async with conn.execute(
                "SELECT tx_id FROM payouts WHERE state = 'pending' AND due <= ?"
                " ORDER BY due, tx_id LIMIT ?",
                (self.clock(), limit),
            ) as cur:
                due = [str(r[0]) for r in await cur.fetchall()]
            return [await self.settle_in(conn, tx_id, None) for tx_id in due]

    async def hold(self, transaction_id: str, note: str) -> list[Event]:
        """Keep a pending payout from settling until the admin pays or reverses it; the
        ``log.payment.held`` event, for the caller to publish."""
        async with self.store.transaction() as conn:
            payment, state = await self._payment(conn, transaction_id, "reversed")
            if isinstance(payment, LinkedResult) or state != "pending":
                raise NotSettleableError(f"{transaction_id} is {state or 'reversed'}, not pending")
            await conn.execute(
                "UPDATE payouts SET due = NULL, note = ? WHERE tx_id = ?", (note, payment.id)
            )
            now = self.clock()
            payload = {"subPKPId": payment.sub_pkp_id, "amount": float(payment.amount),
                       "transactionId": payment.id, "note": note}  # fmt: skip
            return await self.events(conn, [("log.payment.held", payload)], now)

    async def settle_in(
        self, conn: aiosqlite.Connection, transaction_id: str, note: str | None
    ) -> LinkedResult:
        payment, state = await self._payment(conn, transaction_id, "settled")
        if isinstance(payment, LinkedResult):
            return payment
        if state != "pending":
            raise NotSettleableError(f"{transaction_id} is {state}: only a pending payout settles")
        now = self.clock()
        settlement = payment.model_copy(
            update={"id": f"tx_{uuid.uuid4().hex}", "timestamp": datetime.fromtimestamp(now, UTC)}
        )
        sub, links = payment.sub_pkp_id, {"settles": payment.id}
        await self._post(conn, settlement, now, pending_account(sub), account(sub), links)
        await self._set_state(conn, payment.id, "settled", note)
        events = [("log.payment.settled", {
            "subPKPId": sub, "amount": float(payment.amount), "analysisId": payment.analysis_id,
            "transactionId": settlement.id, "settles": payment.id,
        })]  # fmt: skip
        return LinkedResult(settlement, links, True, await self.events(conn, events, now))

    async def _payment(
        self, conn: aiosqlite.Connection, transaction_id: str, done: str
    ) -> tuple[DataTransaction | LinkedResult, str | None]:
        """The payment ``transaction_id`` and its payout state; when it is ``done`` already
        ("reversed" or "settled"), the transaction that did it instead."""
        async with conn.execute(
            "SELECT t.body, t.reverses, t.settles, p.state FROM transactions t"
            " LEFT JOIN payouts p ON p.tx_id = t.id WHERE t.id = ?",
            (transaction_id,),
        ) as cur:
            row = await cur.fetchone()
        if row is None:
            raise NotFoundError(f"no transaction {transaction_id}")
        if row[1] is not None or row[2] is not None:
            kind, of = ("a reversal", row[1]) if row[1] else ("a settlement", row[2])
            raise NotReversibleError(f"{transaction_id} is {kind} of {of}, not a payment")
        state = str(row[3]) if row[3] is not None else "settled"
        if state == done:
            column = "reverses" if done == "reversed" else "settles"
            async with conn.execute(
                f"SELECT body FROM transactions WHERE {column} = ?", (transaction_id,)
            ) as cur:
                follow_up = await cur.fetchone()
            if follow_up is not None:
                return LinkedResult.from_body(json.loads(follow_up[0])), state
        if state == "reversed":
            raise NotSettleableError(f"{transaction_id} was reversed")
        return DataTransaction.model_validate_json(row[0]), state

    async def _set_state(
        self, conn: aiosqlite.Connection, tx_id: str, state: str, note: str | None
    ) -> None:
        await conn.execute(
            "UPDATE payouts SET state = ?, note = COALESCE(?, note) WHERE tx_id = ?",
            (state, note, tx_id),
        )

    async def _within_caps(
        self, conn: aiosqlite.Connection, sub_pkp_id: str, amount: Decimal, now: float
    ) -> None:
        """:class:`CapReachedError` when this payment would take the Sub-PKP's payouts of
        the UTC day past ``daily_cap`` or the market's past ``daily_budget``; counted in the
        caller's transaction, so concurrent payers see each other's payments."""
        day_start = now - (now % 86400)
        checks = (
            (self.daily_cap, "sub-pkp-cap", " AND sub_pkp_id = ?", (sub_pkp_id,),
             f"the daily payout cap of {self.daily_cap} USD for {sub_pkp_id} is reached"),
            (self.daily_budget, "market-budget", "", (),
             f"the market's daily budget of {self.daily_budget} USD is spent"),
        )  # fmt: skip
        for cap, reason, where, args, message in checks:
            if cap is None:
                continue
            async with conn.execute(
                "SELECT COALESCE(SUM(amount_micros), 0) FROM transactions"
                " WHERE settles IS NULL AND created >= ?" + where,
                (day_start, *args),
            ) as cur:
                (paid_today,) = await cur.fetchone()  # type: ignore[misc]
            if Decimal(int(paid_today)) * MICRO + amount > cap:
                raise CapReachedError(reason, message)

    async def _post(
        self,
        conn: aiosqlite.Connection,
        tx: DataTransaction,
        now: float,
        debit: str,
        credit: str,
        links: dict[str, str] | None = None,
    ) -> None:
        """Write ``tx``: its row, its two entries (``tx.amount`` from ``debit`` to
        ``credit``), the balances, its link in the chain. ``links`` name the payment a
        reversal or settlement is about (kept in the body, so signed)."""
        if self.signer is not None and not self._sealed:
            # Rows from before signing take their links first, in the order they came.
            await seal_genesis(conn, self.signer)
            self._sealed = True
        links = links or {}
        micros = to_micros(tx.amount)
        body = tx.model_dump(mode="json", by_alias=True) | links
        await conn.execute(
            "INSERT INTO transactions (id, analysis_id, sub_pkp_id, amount_micros, created,"
            " reverses, settles, body) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (tx.id, tx.analysis_id, tx.sub_pkp_id, -micros if "reverses" in links else micros,
             now, links.get("reverses"), links.get("settles"), json.dumps(body)),
        )  # fmt: skip
        moves = [(debit, -micros), (credit, micros)]
        await conn.executemany(
            "INSERT INTO ledger_entries (tx_id, account, amount_micros, created) VALUES (?, ?, ?, ?)",
            [(tx.id, acct, m, now) for acct, m in moves],
        )
        await conn.executemany(
            "INSERT INTO balances (account, balance_micros) VALUES (?, ?) ON CONFLICT(account)"
            " DO UPDATE SET balance_micros = balances.balance_micros + excluded.balance_micros",
            moves,
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

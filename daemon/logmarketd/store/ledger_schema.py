"""The marketplace's tables (analyses, transactions, ledger entries, balances, findings,
game state, idempotency keys): a migration of the store, kept apart so the store can import
it without importing the ledger."""

from __future__ import annotations

__all__ = ["LEDGER_DDL"]

LEDGER_DDL = """
CREATE TABLE analyses (
    id             TEXT PRIMARY KEY,
    sub_pkp_id     TEXT,
    source         TEXT NOT NULL,
    created        REAL NOT NULL,
    simulated      INTEGER NOT NULL DEFAULT 0,
    value_score    REAL NOT NULL,
    quality        REAL NOT NULL,
    payment_micros INTEGER NOT NULL,
    paid           INTEGER NOT NULL DEFAULT 0,
    paid_at        REAL,
    content_sha256 TEXT,
    body           TEXT NOT NULL
);
CREATE INDEX analyses_by_sub_pkp ON analyses (sub_pkp_id, created);
CREATE INDEX analyses_by_time ON analyses (created);
CREATE TABLE transactions (
    id            TEXT PRIMARY KEY,
    analysis_id   TEXT NOT NULL REFERENCES analyses (id),
    sub_pkp_id    TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    created       REAL NOT NULL,
    reverses      TEXT,
    body          TEXT NOT NULL
);
CREATE INDEX transactions_by_sub_pkp ON transactions (sub_pkp_id, created);
-- One payment per analysis, whatever races: the database itself refuses a second one.
CREATE UNIQUE INDEX transactions_one_payment ON transactions (analysis_id) WHERE reverses IS NULL;
CREATE TABLE ledger_entries (
    id            INTEGER PRIMARY KEY,
    tx_id         TEXT NOT NULL,
    account       TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    created       REAL NOT NULL
);
CREATE INDEX ledger_entries_by_account ON ledger_entries (account);
CREATE TRIGGER ledger_entries_immutable_u BEFORE UPDATE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable: post a reversing entry'); END;
CREATE TRIGGER ledger_entries_immutable_d BEFORE DELETE ON ledger_entries
BEGIN SELECT RAISE(ABORT, 'ledger entries are immutable: post a reversing entry'); END;
CREATE TABLE balances (
    account         TEXT PRIMARY KEY,
    balance_micros  INTEGER NOT NULL
);
CREATE TABLE findings_seen (
    fingerprint      TEXT PRIMARY KEY,
    first_analysis   TEXT NOT NULL,
    first_sub_pkp_id TEXT,
    first_seen       REAL NOT NULL
);
CREATE TABLE game_state (
    sub_pkp_id   TEXT PRIMARY KEY,
    points_micro INTEGER NOT NULL,
    xp           INTEGER NOT NULL,
    level        INTEGER NOT NULL,
    stats        TEXT NOT NULL,
    achievements TEXT NOT NULL
);
CREATE TABLE agent_stats (
    agent_id      TEXT PRIMARY KEY,
    logs_analyzed INTEGER NOT NULL DEFAULT 0,
    insights      INTEGER NOT NULL DEFAULT 0,
    money_micros  INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    status       INTEGER NOT NULL,
    response     TEXT NOT NULL,
    created      REAL NOT NULL
);
"""

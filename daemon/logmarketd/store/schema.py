"""Every table of the store, as the migrations that built it.

The store is the one place that opens the database, so it owns the schema: each entry of
:data:`MIGRATIONS` takes the schema from version i to i + 1, and an entry that has shipped is
never edited. The aggregates that read and write these tables (the inbox, windows, templates,
the ledger, keys, events) keep their SQL beside their code, not their DDL.

No semicolons inside statements: the migration runner splits on them.
"""

from __future__ import annotations

__all__ = ["MIGRATIONS", "OUTBOX_DDL", "SCHEMA_VERSION", "TEMPLATES_DDL"]

# The marketplace: analyses, transactions, ledger entries, balances, findings, game state,
# agent counters, idempotency keys.
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

# Sub-PKP API keys (only a hash of each secret).
API_KEYS_DDL = """
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    sub_pkp_id  TEXT NOT NULL,
    secret_hash TEXT NOT NULL,
    created     REAL NOT NULL,
    revoked     REAL
);
"""

# The event outbox. AUTOINCREMENT so an id is never reused after old rows are pruned:
# clients resume by id.
OUTBOX_DDL = """
CREATE TABLE events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    type         TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    created      REAL    NOT NULL,
    delivered_at REAL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL    NOT NULL DEFAULT 0,
    last_error   TEXT
);
CREATE INDEX events_undelivered ON events (id) WHERE delivered_at IS NULL;
"""

# Windows: per-key positions in the inbox and the windows analysed.
PIPELINE_DDL = """
CREATE TABLE window_cursors (
    key       TEXT PRIMARY KEY,
    row_id    INTEGER NOT NULL,
    rec_index INTEGER NOT NULL
);
CREATE TABLE windows (
    analysis_id TEXT PRIMARY KEY,
    key         TEXT NOT NULL,
    first_row   INTEGER NOT NULL,
    first_index INTEGER NOT NULL,
    last_row    INTEGER NOT NULL,
    last_index  INTEGER NOT NULL,
    n_records   INTEGER NOT NULL,
    closed_by   TEXT NOT NULL,
    created     REAL NOT NULL,
    templates     INTEGER NOT NULL,
    new_templates INTEGER NOT NULL,
    digest        TEXT NOT NULL
);
"""

# Mined templates. ``superseded_by`` links a template that was generalised (or merged into
# a more general one) to its successor; live templates have NULL there.
TEMPLATES_DDL = """
CREATE TABLE templates (
    template_id   TEXT PRIMARY KEY,
    template      TEXT NOT NULL,
    count         INTEGER NOT NULL,
    first_seen    REAL NOT NULL,
    last_seen     REAL NOT NULL,
    superseded_by TEXT
);
CREATE INDEX templates_live ON templates (last_seen) WHERE superseded_by IS NULL;
"""

# The signed ledger: one link per transaction, in the order they were written. A link's hash
# covers its sequence number, the previous link's hash, the transaction row and its entries;
# the marketplace's key signs it. The head names the last link (signed too), so a cut-off
# tail shows. Rows already there when this was added are chained (``genesis``) at the next
# signed start, once: ``ledger_meta.genesis`` says it is still to do. What the game awarded
# for each payment is kept so that a reversal takes back exactly that.
LEDGER_CHAIN_DDL = """
CREATE TABLE ledger_chain (
    seq       INTEGER PRIMARY KEY,
    tx_id     TEXT NOT NULL UNIQUE,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL,
    signature TEXT NOT NULL,
    genesis   INTEGER NOT NULL DEFAULT 0
);
CREATE TRIGGER ledger_chain_immutable_u BEFORE UPDATE ON ledger_chain
BEGIN SELECT RAISE(ABORT, 'the ledger chain is append-only'); END;
CREATE TRIGGER ledger_chain_immutable_d BEFORE DELETE ON ledger_chain
BEGIN SELECT RAISE(ABORT, 'the ledger chain is append-only'); END;
CREATE TRIGGER transactions_immutable_u BEFORE UPDATE ON transactions
BEGIN SELECT RAISE(ABORT, 'transactions are immutable: post a reversing transaction'); END;
CREATE TRIGGER transactions_immutable_d BEFORE DELETE ON transactions
BEGIN SELECT RAISE(ABORT, 'transactions are immutable: post a reversing transaction'); END;
CREATE TABLE ledger_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    seq       INTEGER NOT NULL,
    hash      TEXT NOT NULL,
    signature TEXT NOT NULL
);
CREATE TABLE ledger_meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO ledger_meta VALUES ('genesis', 'pending');
CREATE INDEX transactions_by_reverses ON transactions (reverses) WHERE reverses IS NOT NULL;
CREATE TABLE payment_awards (
    tx_id        TEXT PRIMARY KEY,
    points_micro INTEGER NOT NULL,
    xp           INTEGER NOT NULL
);
"""

# Settlement: a payment credits the Sub-PKP's pending account (``pending:sub-pkp:ID``) and a
# settlement transaction (``settles`` names the payment; signed and chained like the rest)
# moves it to ``sub-pkp:ID`` once the hold is over. ``payouts`` is the queue of held
# payments: state, not money (the money is in the entries). ``due`` NULL: held by the admin
# until paid or reversed. A finding's verdict (valid or not) is the admin's triage, kept for
# the agents' feedback.
SETTLEMENT_DDL = """
ALTER TABLE transactions ADD COLUMN settles TEXT;
DROP INDEX transactions_one_payment;
CREATE UNIQUE INDEX transactions_one_payment ON transactions (analysis_id)
    WHERE reverses IS NULL AND settles IS NULL;
CREATE UNIQUE INDEX transactions_one_settlement ON transactions (settles)
    WHERE settles IS NOT NULL;
CREATE TABLE payouts (
    tx_id         TEXT PRIMARY KEY,
    sub_pkp_id    TEXT NOT NULL,
    amount_micros INTEGER NOT NULL,
    created       REAL NOT NULL,
    due           REAL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'settled', 'reversed')),
    note          TEXT
);
CREATE INDEX payouts_due ON payouts (state, due);
INSERT INTO payouts (tx_id, sub_pkp_id, amount_micros, created, due, state)
    SELECT t.id, t.sub_pkp_id, t.amount_micros, t.created, t.created,
           CASE WHEN EXISTS (SELECT 1 FROM transactions r WHERE r.reverses = t.id)
                THEN 'reversed' ELSE 'settled' END
    FROM transactions t WHERE t.reverses IS NULL;
CREATE TABLE finding_verdicts (
    fingerprint TEXT PRIMARY KEY,
    agent_id    TEXT,
    valid       INTEGER NOT NULL,
    note        TEXT,
    decided     REAL NOT NULL
);
"""

# Retention (store/retention.py): ``analyses.text_pruned`` is when an analysis's log text
# (evidence lines) was taken out past the retention, NULL while it is still there; the
# indexes find what is older than the retention without reading every row.
RETENTION_DDL = """
ALTER TABLE analyses ADD COLUMN text_pruned REAL;
CREATE INDEX analyses_with_text ON analyses (created) WHERE text_pruned IS NULL;
CREATE INDEX windows_by_time ON windows (created);
CREATE INDEX idempotency_keys_by_time ON idempotency_keys (created);
CREATE INDEX events_by_time ON events (created);
"""

# The inbox's columns after its id: version 1 made the table, version 7 rebuilt it.
_INBOX_COLUMNS = """
        received   REAL NOT NULL,
        client_id  TEXT,
        seq        INTEGER,
        host       TEXT,
        source     TEXT NOT NULL,
        sub_pkp_id TEXT,
        stream     TEXT,
        n_records  INTEGER NOT NULL,
        frame      TEXT NOT NULL
"""

MIGRATIONS: list[str] = [
    """
    CREATE TABLE counters (
        name  TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    );
    CREATE TABLE clients (
        client_id  TEXT PRIMARY KEY,
        last_seq   INTEGER NOT NULL,
        dropped    INTEGER NOT NULL DEFAULT 0,
        host       TEXT,
        pid        INTEGER,
        first_seen REAL NOT NULL,
        last_seen  REAL NOT NULL
    );
    -- A durable queue of received frames, kept verbatim (validated JSON): records leave it
    -- once the pipeline has consumed them.
    CREATE TABLE inbox (
        id         INTEGER PRIMARY KEY,"""
    + _INBOX_COLUMNS
    + """);
    """,
    LEDGER_DDL,
    API_KEYS_DDL,
    OUTBOX_DDL,
    PIPELINE_DDL,
    TEMPLATES_DDL,
    # Inbox row ids never go backwards: without AUTOINCREMENT SQLite hands out max(id) + 1,
    # so once the pipeline had emptied the inbox, new rows got ids below its read position
    # and were skipped, then deleted unanalysed. The sequence starts above every position
    # the pipeline has recorded.
    """
    CREATE TABLE inbox_v7 (
        id         INTEGER PRIMARY KEY AUTOINCREMENT,"""
    + _INBOX_COLUMNS
    + """);
    INSERT INTO inbox_v7 SELECT * FROM inbox;
    DROP TABLE inbox;
    ALTER TABLE inbox_v7 RENAME TO inbox;
    INSERT INTO sqlite_sequence (name, seq)
        SELECT 'inbox', 0 WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'inbox');
    UPDATE sqlite_sequence SET seq = MAX(seq,
        (SELECT COALESCE(MAX(row_id), 0) FROM window_cursors),
        (SELECT COALESCE(MAX(last_row), 0) FROM windows))
        WHERE name = 'inbox';
    -- A client id is bound to a secret only its client holds (SHA-256 kept, never the secret).
    ALTER TABLE clients ADD COLUMN secret_sha256 TEXT;
    """,
    LEDGER_CHAIN_DDL,
    SETTLEMENT_DDL,
    RETENTION_DDL,
]

SCHEMA_VERSION = len(MIGRATIONS)

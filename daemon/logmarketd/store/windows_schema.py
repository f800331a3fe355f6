"""The window pipeline's tables: per-key positions and the windows analysed."""

from __future__ import annotations

__all__ = ["PIPELINE_DDL"]

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

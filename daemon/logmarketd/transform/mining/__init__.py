"""Template mining: raw line → header fields and message → masked message → template.

The pipeline's mining stage calls :class:`Miner` (pure, no I/O) once per record, folds the
matches of a window with :class:`WindowDigest`, and persists ``Miner.export_rows()``
through a :class:`TemplateStore` (table ``templates``, :data:`TEMPLATES_DDL`).
"""

from __future__ import annotations

from logmarketd.transform.mining.digest import DigestEntry, WindowDigest
from logmarketd.transform.mining.headers import (
    HeaderCutter,
    HeaderParser,
    LogFormatError,
    ParsedLine,
    detect_format,
)
from logmarketd.transform.mining.masking import PLACEHOLDER, Masker
from logmarketd.transform.mining.miner import Match, Miner
from logmarketd.transform.mining.persistence import (
    TEMPLATES_DDL,
    TEMPLATES_SELECT,
    TEMPLATES_UPSERT,
    MemoryTemplateStore,
    SqliteTemplateStore,
    TemplateStore,
)
from logmarketd.transform.mining.templates import TemplateRow, extract_variables, template_id

__all__ = [
    "PLACEHOLDER",
    "TEMPLATES_DDL",
    "TEMPLATES_SELECT",
    "TEMPLATES_UPSERT",
    "DigestEntry",
    "HeaderCutter",
    "HeaderParser",
    "LogFormatError",
    "Masker",
    "Match",
    "MemoryTemplateStore",
    "Miner",
    "ParsedLine",
    "SqliteTemplateStore",
    "TemplateRow",
    "TemplateStore",
    "WindowDigest",
    "detect_format",
    "extract_variables",
    "template_id",
]

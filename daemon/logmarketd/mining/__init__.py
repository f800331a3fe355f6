"""Template mining: raw line → header fields and message → masked message → template.

The pipeline's mining stage calls :class:`Miner` (pure, no I/O); the store persists its
:class:`TemplateRow` rows through a :class:`TemplateStore`.
"""

from __future__ import annotations

from logmarketd.mining.headers import HeaderParser, LogFormatError, ParsedLine, detect_format
from logmarketd.mining.masking import PLACEHOLDER, Masker
from logmarketd.mining.miner import Match, Miner
from logmarketd.mining.templates import TemplateRow, extract_variables, template_id

__all__ = [
    "PLACEHOLDER",
    "HeaderParser",
    "LogFormatError",
    "Masker",
    "Match",
    "Miner",
    "ParsedLine",
    "TemplateRow",
    "detect_format",
    "extract_variables",
    "template_id",
]

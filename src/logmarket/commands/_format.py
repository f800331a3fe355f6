"""Plain-text output shared by the commands that print tables."""

from __future__ import annotations

__all__ = ["table"]


def table(rows: list[list[str]]) -> str:
    """``rows`` (the first one the header) as columns two spaces apart, each as wide as its
    widest cell."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)  # fmt: skip

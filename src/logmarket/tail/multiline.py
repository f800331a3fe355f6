"""Joining the lines of one event (a stack trace, a panic, an indented block) into one record.

Two ways to tell where an event starts:

* ``start_pattern`` (a regular expression): a line that matches starts a record, every other
  line continues the current one (Filebeat's ``multiline.pattern`` with ``negate: true``).
* ``auto`` (the default), rules for the common runtimes:

  - an indented line (space or tab) continues: Java ``\\tat ...``, JavaScript ``    at ...``,
    Python ``  File ...``, Go's ``\\t/path/file.go:12``, any indented block;
  - ``Caused by: ...``, ``... 12 more``, Python's ``Traceback (most recent call last):`` and
    its chained-exception sentences continue;
  - a qualified Java exception name (``java.lang.IllegalStateException: ...``) continues the
    log line it follows;
  - after a Python traceback's frames, the exception line (``ValueError: boom``) continues;
  - ``panic: ...`` starts a Go panic, whose blank lines, ``goroutine N [...]:`` headers,
    function lines and ``exit status N`` continue.

A record is closed by the next line that starts one, by :meth:`Assembler.flush` (the file has
been quiet for the flush timeout), or when it reaches ``max_lines`` / ``max_bytes`` (then the
rest goes on in the next record, and the first one is marked ``split``).
"""

from __future__ import annotations

import re

from logmarket.tail.lines import SPLIT, Line

__all__ = ["Assembler"]

_ALWAYS = re.compile(
    r"Caused by: |Suppressed: |\.\.\. \d+ (?:more|common frames omitted)"
    r"|During handling of the above exception|The above exception was the direct cause"
    r"|(?:[A-Za-z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error|Throwable)\b"
)
_TRACEBACK = "Traceback (most recent call last):"
_GO_CONT = re.compile(
    r"$|goroutine \d+ \[|created by |exit status \d+|\[signal |[\w./*()\[\]{}-]+\(.*\)$"
)

# Python traceback states
_TB_NONE, _TB_FRAMES, _TB_DONE = 0, 1, 2


class Assembler:
    """Feeds on lines of one file, returns finished records as :data:`Line` tuples."""

    def __init__(
        self,
        start_pattern: str | None = None,
        *,
        enabled: bool = True,
        max_lines: int = 1000,
        max_bytes: int = 256 * 1024,
    ) -> None:
        self.start = re.compile(start_pattern) if start_pattern else None
        self.enabled = enabled
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        self._texts: list[str] = []
        self._size = 0
        self._end = 0
        self._flags = 0
        self._tb = _TB_NONE
        self._go = False

    @property
    def pending(self) -> bool:
        """Lines are held, waiting to know whether the event goes on."""
        return bool(self._texts)

    def feed(self, lines: list[Line], out: list[Line]) -> None:
        """Assemble ``lines``; finished records are appended to ``out``."""
        if not self.enabled:
            out.extend(lines)
            return
        for line in lines:
            text, end, flags = line
            if flags:
                # A piece of an over-long line or a flushed partial one: its own record.
                self.flush(out)
                out.append(line)
                continue
            if self._texts and self._continues(text):
                if len(self._texts) >= self.max_lines or self._size + len(text) >= self.max_bytes:
                    # Too big for one record: this part goes, the event goes on in the next.
                    self._flags |= SPLIT
                    self.flush(out)
                    self._size = -1
                self._texts.append(text)
                self._size += len(text) + 1
                self._end = end
                continue
            self.flush(out)
            self._texts.append(text)
            self._size = len(text)
            self._end = end
            self._tb = _TB_FRAMES if text.startswith(_TRACEBACK) else _TB_NONE
            self._go = text.startswith("panic: ")

    def flush(self, out: list[Line]) -> None:
        """Close the record being assembled, if any."""
        if self._texts:
            texts = self._texts
            out.append((texts[0] if len(texts) == 1 else "\n".join(texts), self._end, self._flags))
            self._texts = []
            self._size = 0
            self._flags = 0

    def _continues(self, text: str) -> bool:
        if self.start is not None:
            return self.start.match(text) is None
        if text[:1] in (" ", "\t"):
            return True
        if text.startswith(_TRACEBACK):
            self._tb = _TB_FRAMES
            return True
        if self._go and _GO_CONT.match(text):
            return True
        if _ALWAYS.match(text):
            return True
        if self._tb == _TB_FRAMES:
            # The exception line after a traceback's (indented) frames ends the traceback.
            self._tb = _TB_DONE
            return True
        return text == "" and self._tb == _TB_DONE

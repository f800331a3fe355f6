"""The two guards in front of a paid model: a daily token budget and a circuit breaker.

Both take a clock (``time.time`` by default) so tests move time instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

__all__ = ["CircuitBreaker", "DailyTokenBudget"]

Clock = Callable[[], float]


def _utc_day(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).date().isoformat()


def _seconds_to_midnight(now: float) -> float:
    today = datetime.fromtimestamp(now, UTC).date()
    midnight = datetime(today.year, today.month, today.day, tzinfo=UTC) + timedelta(days=1)
    return midnight.timestamp() - now


class DailyTokenBudget:
    """Tokens a UTC day may spend. A request reserves its estimate first, then settles.

    ``limit`` 0 allows nothing (every request goes to the rules).
    """

    def __init__(self, limit: int, clock: Clock = time.time) -> None:
        if limit < 0:
            raise ValueError("a token budget cannot be negative")
        self.limit = limit
        self._clock = clock
        self._day = _utc_day(clock())
        self._used = 0

    def _roll(self) -> None:
        day = _utc_day(self._clock())
        if day != self._day:
            self._day, self._used = day, 0

    @property
    def day(self) -> str:
        """The current budget day (UTC date)."""
        self._roll()
        return self._day

    def restore(self, used: int) -> None:
        """Count ``used`` tokens already spent today (from before a restart)."""
        self._roll()
        self._used = max(self._used, used)

    @property
    def used(self) -> int:
        """Tokens spent or reserved today."""
        self._roll()
        return self._used

    def seconds_until_reset(self) -> float:
        """Seconds until the next UTC midnight, when the budget refills."""
        return _seconds_to_midnight(self._clock())

    def reserve(self, tokens: int) -> bool:
        """Reserve ``tokens``; False (and nothing reserved) if that would pass the limit."""
        self._roll()
        if self._used + tokens > self.limit:
            return False
        self._used += tokens
        return True

    def settle(self, reserved: int, actual: int | None) -> None:
        """Replace a reservation by the tokens the provider reported (if it reported any)."""
        self._roll()
        if actual is not None:
            self._used = max(0, self._used - reserved + actual)


class CircuitBreaker:
    """Closed (calls go through) → open after ``failures`` failures in a row (calls refused)
    → half-open after ``reset_after`` seconds (one trial call) → closed on its success.
    """

    def __init__(
        self, failures: int = 3, reset_after: float = 60.0, clock: Clock = time.time
    ) -> None:
        self.failures = failures
        self.reset_after = reset_after
        self._clock = clock
        self._streak = 0
        self._open_until: float | None = None
        self._trial_out = False
        self.trips = 0

    @property
    def state(self) -> str:
        """``closed``, ``open`` or ``half-open``."""
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half-open"

    def allow(self) -> bool:
        """May a call go out now? In half-open state only one trial call at a time."""
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def success(self) -> None:
        """A call succeeded: close the circuit."""
        self._streak = 0
        self._open_until = None
        self._trial_out = False

    def failure(self) -> None:
        """A call failed: count it, and open the circuit at the threshold or after a failed trial."""
        self._streak += 1
        if self._trial_out or self._streak >= self.failures:
            self.trip(self.reset_after)

    def trip(self, seconds: float) -> None:
        """Open the circuit for ``seconds`` (also used when the day's budget runs out)."""
        self._open_until = self._clock() + seconds
        self._trial_out = False
        self.trips += 1

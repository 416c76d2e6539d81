"""Repeated log messages, once per period with a count.

A looping image folder with one corrupt file printed the same WARN 61 times in 18 s: the first
occurrence is what a person needs, then how often it kept happening. ``RepeatLimiter`` lets the
first occurrence of a key through, counts the repeats for ``period_s``, and lets the next one
through with "(N more in the last T s)"; ``pending()`` hands out the counts of keys that went
quiet, so a burst that stops is still reported. Plain logic with an injectable clock.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional


@dataclass
class _Entry:
    window_start: float
    suppressed: int = 0
    last_message: str = ""


@dataclass(frozen=True)
class Repeat:
    """What to log for one occurrence or one quiet key's summary."""

    key: str
    message: str
    suppressed: int
    span_s: float

    def text(self) -> str:
        if not self.suppressed:
            return self.message
        return f"{self.message} ({self.suppressed} more in the last {self.span_s:.0f} s)"


class RepeatLimiter:
    """Per-key: log the first occurrence, then at most one per ``period_s`` carrying the count
    of the occurrences swallowed since the previous one."""

    def __init__(self, period_s: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        if period_s <= 0:
            raise ValueError(f"period_s must be > 0, got {period_s}")
        self.period_s = period_s
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()
        self.total_suppressed = 0

    def hit(self, key: str, message: str) -> Optional[Repeat]:
        """An occurrence of ``key``: a Repeat to log now, or None (counted, to be reported)."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or now - entry.window_start >= self.period_s:
                suppressed = entry.suppressed if entry else 0
                span = now - entry.window_start if entry else 0.0
                self._entries[key] = _Entry(now, 0, message)
                return Repeat(key, message, suppressed, span)
            entry.suppressed += 1
            entry.last_message = message
            self.total_suppressed += 1
            return None

    def pending(self) -> list[Repeat]:
        """Summaries of keys whose period ended with swallowed repeats (called from a timer):
        each count is reported once and a new period starts, so a repeat that goes on is
        logged once per period, and one that stopped still has its count reported."""
        now = self._clock()
        out = []
        with self._lock:
            for key, entry in list(self._entries.items()):
                if now - entry.window_start < self.period_s:
                    continue
                if entry.suppressed:
                    out.append(Repeat(key, entry.last_message, entry.suppressed, now - entry.window_start))
                    # A new window: repeats that go on are counted again, not logged at once.
                    entry.window_start, entry.suppressed = now, 0
                else:
                    del self._entries[key]  # quiet for a whole period: the next one is a first again
        return out

"""Sustained-emotion detection with hysteresis, for behaviour nodes.

Per-frame estimates flicker; a robot should react to an emotion that *lasts*. An emotion
starts when the same label has stayed at or above ``enter_confidence`` for ``hold_s``, and ends
when the current label has been absent or below ``exit_confidence`` (lower than the entry
threshold: that gap is the hysteresis) for ``release_s``. Time comes from message stamps, so a
bag replayed at any speed gives the same events.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Optional

NS = 1_000_000_000


@dataclass(frozen=True)
class EmotionEvent:
    """``kind`` is "start" or "end"; ``since_ns`` is when the emotion began to hold."""

    kind: str
    label: str
    stamp_ns: int
    since_ns: int

    @property
    def duration_s(self) -> float:
        return (self.stamp_ns - self.since_ns) / NS


class SustainedEmotion:
    def __init__(self, enter_confidence: float = 0.6, exit_confidence: float = 0.4,
                 hold_s: float = 1.0, release_s: float = 1.0, max_gap_s: float = 2.0,
                 labels: Optional[Collection[str]] = None) -> None:
        if not 0.0 <= exit_confidence <= enter_confidence <= 1.0:
            raise ValueError("need 0 <= exit_confidence <= enter_confidence <= 1")
        if hold_s < 0 or release_s < 0 or max_gap_s <= 0:
            raise ValueError("hold_s and release_s must be >= 0, max_gap_s > 0")
        self.enter, self.exit = enter_confidence, exit_confidence
        self.hold_ns, self.release_ns = int(hold_s * NS), int(release_s * NS)
        self.max_gap_ns = int(max_gap_s * NS)
        self.labels = set(labels) if labels else None  # None: every label
        self.current: Optional[str] = None
        self._since = 0
        self._candidate: Optional[tuple[str, int]] = None
        self._below_since: Optional[int] = None
        self._last: Optional[int] = None

    def reset(self) -> None:
        self.current, self._candidate, self._below_since, self._last = None, None, None, None

    def update(self, label: str, confidence: float, stamp_ns: int) -> list[EmotionEvent]:
        """Feed one estimate; returns the events it caused (an end may precede a start)."""
        events: list[EmotionEvent] = []
        if self._last is not None and (stamp_ns < self._last or stamp_ns - self._last > self.max_gap_ns):
            # Time went backwards (looping bag) or the stream paused: nothing carries over.
            if self.current is not None:
                events.append(EmotionEvent("end", self.current, self._last, self._since))
            self.reset()
        self._last = stamp_ns
        if self.current is not None:
            if label == self.current and confidence >= self.exit:
                self._below_since = None
                return events
            if self._below_since is None:
                self._below_since = stamp_ns
            if stamp_ns - self._below_since < self.release_ns:
                return events
            events.append(EmotionEvent("end", self.current, stamp_ns, self._since))
            self.current, self._below_since = None, None
        watched = self.labels is None or label in self.labels
        if not watched or confidence < self.enter:
            self._candidate = None
            return events
        if self._candidate is None or self._candidate[0] != label:
            self._candidate = (label, stamp_ns)
        since = self._candidate[1]
        if stamp_ns - since >= self.hold_ns:
            self.current, self._since, self._candidate = label, since, None
            events.append(EmotionEvent("start", label, stamp_ns, since))
        return events

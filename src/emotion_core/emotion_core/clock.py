"""Stamps for audio chunks from the sample count, anchored once to the ROS clock.

Chunk arrival times jitter by tens of ms, so stamping a chunk with its arrival time smears the
audio/video alignment. Counting samples keeps stamps exact relative to each other; the anchor is
corrected only when the sample clock has measurably drifted from the system clock.
"""
from __future__ import annotations

from collections import deque
from typing import Optional

NS = 1_000_000_000


class SampleClock:
    """``stamp(n, now)`` returns the capture time of the first of the next ``n`` samples.

    Drift is the smallest arrival lag (now - end of chunk) over the last ``window`` chunks,
    relative to the smallest lag of the first ``window`` chunks after anchoring: jitter only ever
    adds lag, so the minimum tracks the clocks' true offset. Beyond ``max_drift_s`` the anchor
    moves by the drift.
    """

    def __init__(self, sample_rate: int, max_drift_s: float = 0.05, window: int = 50) -> None:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be > 0")
        self.sample_rate = sample_rate
        self.max_drift_ns = int(max_drift_s * NS)
        self._anchor_ns: Optional[int] = None
        self._count = 0
        self._lags: deque[int] = deque(maxlen=window)
        self._baseline: Optional[int] = None
        self.drift_ns = 0
        self.reanchors = 0

    def duration_ns(self, n: int) -> int:
        return n * NS // self.sample_rate

    def stamp(self, n: int, now_ns: int) -> int:
        if self._anchor_ns is None:
            self._anchor_ns = now_ns - self.duration_ns(n)  # the chunk was captured just now
        start = self._anchor_ns + self.duration_ns(self._count)
        self._count += n
        lag = now_ns - (start + self.duration_ns(n))
        self._lags.append(lag)
        low = min(self._lags)
        if self._baseline is None or len(self._lags) < self._lags.maxlen:  # type: ignore[operator]
            self._baseline = low if self._baseline is None else min(self._baseline, low)
        self.drift_ns = low - self._baseline
        if abs(self.drift_ns) > self.max_drift_ns:
            self._anchor_ns += self.drift_ns
            self.reanchors += 1
            # Keep the history, shifted to the new anchor: clearing it re-opened the baseline
            # (which then absorbed a fast device's drift, so corrections fell behind without
            # bound) and left the next estimate a jittery minimum over a handful of chunks.
            self._lags = deque((v - self.drift_ns for v in self._lags), maxlen=self._lags.maxlen)
            self.drift_ns = 0
        return start

    def reset(self) -> None:
        self._anchor_ns = None
        self._count = 0
        self._lags.clear()
        self._baseline = None
        self.drift_ns = 0

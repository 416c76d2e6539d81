"""Audio/video alignment without ROS: the approximate-time pairing policy, the audio ring buffer
keyed by sample time, a stamp-based rate limiter and the audio status of a pair.

``ApproximateTimePolicy`` follows the pairing rule of ROS 2 ``message_filters``'
``ApproximateTimeSynchronizer`` (Python implementation): when a message arrives, every other
queue contributes its stamps within ``slop`` of it, candidates are tried nearest first, and the
first combination whose stamp spread is below ``slop`` is emitted and removed from the queues.
The av_sync node uses message_filters itself where it is installed and this policy otherwise.
"""
from __future__ import annotations

import itertools
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np

NS = 1_000_000_000

# Audio status values (mirror emotion_msgs/AudioVisualPair constants).
AUDIO_OK = 0
AUDIO_PARTIAL = 1
AUDIO_STALE = 2
AUDIO_MISSING = 3
AUDIO_STATUS_NAMES = {AUDIO_OK: "ok", AUDIO_PARTIAL: "partial", AUDIO_STALE: "stale",
                      AUDIO_MISSING: "missing"}


class ApproximateTimePolicy:
    """N-input approximate-time pairing keyed on integer nanosecond stamps."""

    def __init__(self, n_inputs: int, queue_size: int, slop_s: float) -> None:
        if n_inputs < 2:
            raise ValueError("need at least two inputs to synchronise")
        if queue_size < 1:
            raise ValueError("queue_size must be >= 1")
        if slop_s <= 0:
            raise ValueError("slop must be > 0 s")
        self.queue_size = queue_size
        self.slop_ns = int(round(slop_s * NS))
        self.queues: list[dict[int, Any]] = [{} for _ in range(n_inputs)]
        self._callbacks: list[Callable[..., None]] = []
        self._lock = threading.Lock()

    def register_callback(self, callback: Callable[..., None]) -> None:
        self._callbacks.append(callback)

    def add(self, index: int, stamp_ns: int, item: Any) -> Optional[tuple[Any, ...]]:
        """Queue ``item`` on input ``index``; return (and signal) the matched set, if any."""
        with self._lock:
            matched = self._add_locked(index, int(stamp_ns), item)
        if matched is not None:
            for cb in self._callbacks:
                cb(*matched)
        return matched

    def _add_locked(self, index: int, stamp: int, item: Any) -> Optional[tuple[Any, ...]]:
        mine = self.queues[index]
        mine[stamp] = item
        while len(mine) > self.queue_size:
            del mine[min(mine)]
        if stamp not in mine:  # a late message that was itself the oldest: dropped, never emitted
            return None
        candidates: list[list[int]] = []
        for i, queue in enumerate(self.queues):
            if i == index:
                continue
            # Sorted by distance only: the stable sort keeps equal distances in queue (arrival)
            # order, as message_filters does.
            near = sorted((s for s in queue if abs(s - stamp) <= self.slop_ns),
                          key=lambda s: abs(s - stamp))
            if not near:
                return None
            candidates.append(near)
        for combo in itertools.product(*candidates):
            stamps = list(combo)
            stamps.insert(index, stamp)
            if max(stamps) - min(stamps) < self.slop_ns:
                matched = tuple(q.pop(s) for q, s in zip(self.queues, stamps))
                return matched
        return None

    def clear(self) -> None:
        with self._lock:
            for q in self.queues:
                q.clear()


@dataclass(frozen=True)
class AudioWindow:
    """Samples of ``[start_ns, end_ns)`` (zeros where nothing was captured)."""

    samples: np.ndarray
    start_ns: int
    end_ns: int
    coverage: float
    newest_ns: Optional[int]  # end time of the newest sample in the buffer


class AudioRingBuffer:
    """Mono float32 chunks keyed by the sample time of their first sample.

    Chunks must arrive in time order; a chunk that starts well before the previous one ended
    means the clock jumped back (a looping bag, a restarted driver): the buffer is cleared and
    the caller is told, so old audio is never glued to new frames.
    """

    def __init__(self, sample_rate: int, capacity_s: float = 10.0, jump_tolerance_s: float = 0.25) -> None:
        if sample_rate <= 0:
            raise ValueError("sample_rate must be > 0")
        self.sample_rate = sample_rate
        self.capacity_ns = int(capacity_s * NS)
        self.jump_tolerance_ns = int(jump_tolerance_s * NS)
        self._chunks: deque[tuple[int, np.ndarray]] = deque()
        self._lock = threading.Lock()
        self.resets = 0

    def _end(self, start_ns: int, n: int) -> int:
        return start_ns + (n * NS) // self.sample_rate

    @property
    def newest_ns(self) -> Optional[int]:
        with self._lock:
            if not self._chunks:
                return None
            start, samples = self._chunks[-1]
            return self._end(start, samples.size)

    def add(self, start_ns: int, samples: np.ndarray) -> bool:
        """Store a chunk; returns False when it forced a reset (clock jumped backwards)."""
        samples = np.asarray(samples, dtype=np.float32)
        ok = True
        with self._lock:
            if self._chunks:
                last_start, last = self._chunks[-1]
                if start_ns < self._end(last_start, last.size) - self.jump_tolerance_ns:
                    self._chunks.clear()
                    self.resets += 1
                    ok = False
            self._chunks.append((int(start_ns), samples))
            newest = self._end(int(start_ns), samples.size)
            while self._chunks:
                first_start, first = self._chunks[0]
                if self._end(first_start, first.size) >= newest - self.capacity_ns:
                    break
                self._chunks.popleft()
        return ok

    def clear(self) -> None:
        with self._lock:
            self._chunks.clear()

    def window(self, end_ns: int, duration_s: float) -> AudioWindow:
        """The ``duration_s`` of audio that ends at ``end_ns``, with its coverage."""
        n = int(round(duration_s * self.sample_rate))
        start_ns = end_ns - (n * NS) // self.sample_rate
        out = np.zeros(n, np.float32)
        covered = np.zeros(n, bool)
        with self._lock:
            chunks = list(self._chunks)
        for c_start, data in chunks:
            # Offset of the chunk's first sample in the window, in samples (rounded).
            off = int(round((c_start - start_ns) * self.sample_rate / NS))
            lo, hi = max(off, 0), min(off + data.size, n)
            if hi <= lo:
                continue
            out[lo:hi] = data[lo - off:hi - off]
            covered[lo:hi] = True
        newest = self._end(chunks[-1][0], chunks[-1][1].size) if chunks else None
        return AudioWindow(out, start_ns, end_ns, float(covered.mean()) if n else 0.0, newest)


def audio_status(window: AudioWindow, stale_s: float, min_coverage: float = 0.95) -> int:
    """Classify a window: missing (nothing), stale (stream stopped), partial, or ok."""
    if window.newest_ns is None or window.coverage == 0.0:
        if window.newest_ns is not None and window.end_ns - window.newest_ns > stale_s * NS:
            return AUDIO_STALE
        return AUDIO_MISSING
    if window.end_ns - window.newest_ns > stale_s * NS:
        return AUDIO_STALE
    if window.coverage < min_coverage:
        return AUDIO_PARTIAL
    return AUDIO_OK


class RateLimiter:
    """Accept items at most ``rate_hz`` by their stamps (so replays at any speed behave the same);
    a stamp that goes backwards restarts the limiter.

    Accepted stamps are at least 0.8 periods apart: a camera at exactly the limit keeps every
    frame despite timer jitter of several milliseconds (30 fps at 30 Hz passes whole), while
    frames at twice the rate are halved. Sources that are not a multiple of the rate get the
    rate their frame spacing allows (15 fps at 10 Hz: 7.5 Hz) rather than uneven spacing.
    """

    SLACK = 0.2

    def __init__(self, rate_hz: float) -> None:
        self.set_rate(rate_hz)
        self._last: Optional[int] = None

    def set_rate(self, rate_hz: float) -> None:
        if rate_hz < 0:
            raise ValueError("rate must be >= 0 (0 = unlimited)")
        self.period_ns = int(NS / rate_hz * (1.0 - self.SLACK)) if rate_hz > 0 else 0

    def accept(self, stamp_ns: int) -> bool:
        if self._last is None or stamp_ns < self._last or stamp_ns - self._last >= self.period_ns:
            self._last = stamp_ns
            return True
        return False


def pair_streams(frame_stamps: Sequence[int], audio_stamps: Sequence[int], queue_size: int,
                 slop_s: float) -> list[tuple[int, int]]:
    """Pairs the policy forms from two streams merged in arrival (stamp) order; for tests and
    for explaining a configuration offline."""
    policy = ApproximateTimePolicy(2, queue_size, slop_s)
    events = sorted([(s, 0) for s in frame_stamps] + [(s, 1) for s in audio_stamps])
    pairs = []
    for stamp, idx in events:
        m = policy.add(idx, stamp, stamp)
        if m is not None:
            pairs.append((m[0], m[1]))
    return pairs

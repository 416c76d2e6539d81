"""The audio/video pairing rule, once: which frames are processed, which audio window each one
gets, when a frame stops waiting for its audio, and how it is marked.

``AvPairer`` is driven by av_sync_node (live or replayed topics), by the offline evaluation
(a clip's frames and chunks in stamp order) and predicted by the bag player, so the three cannot
drift apart. Its rules:

- Frames: a stamp of 0 is unstamped (dropped and counted, never a clock jump); a small step back
  is out of order (dropped); a large one is a clock jump (every buffer restarts); the rest are
  rate-limited by stamp to ``rate_hz``.
- Release: a frame goes out as soon as the ring buffer holds audio up to its stamp, so its
  window always holds every sample captured before the frame (what offline evaluation computes
  too); otherwise after ``max_wait_s``, and at once while no audio has ever arrived (face-only
  input never waits).
- Pairing: the approximate-time policy of ``message_filters`` matches each accepted frame with
  the audio chunk whose *end* is nearest its stamp (within ``slop_s``); the match gives the
  pair's ``sync_offset`` and ``pairs_synchronized``. It does not gate the release: the policy
  consumes each chunk once, so when frames outnumber chunks (30 fps against 20 chunks/s) a
  third of the frames would never match and would all wait ``max_wait_s``.
- The window is the ``window_s`` of audio that ends at the frame's stamp, cut from a ring buffer
  keyed by sample time, and marked ok / partial / stale / missing.
- Audio stamps are checked against the sample rate over a window of chunks, so one lost or odd
  chunk is not mistaken for a wrong rate, and a single step of the stamps (a sample clock
  re-anchored after its process was starved) is counted as a clock step, not as a rate.
"""
from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Generic, Optional, Protocol, TypeVar

import numpy as np

from .audio import AudioFormatError, decode_pcm
from .settings import setting
from .stamp_order import JUMP_BACK, OUT_OF_ORDER, StampOrder
from .sync import (AUDIO_MISSING, AUDIO_STATUS_NAMES, ApproximateTimePolicy, AudioRingBuffer,
                   AudioWindow, RateLimiter, audio_status)

NS = 1_000_000_000
T = TypeVar("T")

SAMPLE_FORMATS = ("S16LE", "S32LE", "F32LE", "U8")

# What add_frame / add_audio did with an input (the node logs and counts by these).
ACCEPTED = "accepted"
RATE_LIMITED = "rate_limited"
OUT_OF_ORDER_DROPPED = "out_of_order"
UNSTAMPED = "unstamped"
CLOCK_JUMP = "clock_jump"  # accepted, after every buffer was reset
BAD_CHUNK = "bad_chunk"

COUNTERS = ("frames_in", "frames_rate_limited", "frames_out_of_order", "frames_unstamped",
            "audio_chunks", "audio_bad_chunks", "audio_out_of_order", "audio_rate_mismatch",
            "audio_clock_steps", "clock_jumps", "pairs_synchronized", "pairs_out",
            *[f"pairs_{n}" for n in AUDIO_STATUS_NAMES.values()])


@dataclass(frozen=True)
class PairingSettings:
    """Every default and range of the pairing rule (av_sync_node's parameters are made from it)."""

    rate_hz: float = setting(10.0, "inference rate: frames accepted per second of stamp time (0 = all)",
                             range=(0.0, 240.0))
    window_s: float = setting(2.0, "length of the audio window ending at each frame [s]",
                              range=(0.1, 30.0))
    slop_s: float = setting(0.15, "approximate-time slop between a frame and the end of an audio chunk "
                            "[s]; keep it at least one chunk long", range=(0.001, 5.0), read_only=True)
    queue_size: int = setting(30, "synchronizer queue size per input", range=(1, 1000), read_only=True)
    max_wait_s: float = setting(0.3, "longest a frame waits for its audio before it is emitted anyway [s]",
                                range=(0.0, 5.0))
    stale_s: float = setting(0.5, "audio whose newest sample is older than this at the frame is stale [s]",
                             range=(0.01, 30.0))
    buffer_s: float = setting(10.0, "audio ring buffer length [s]", range=(1.0, 120.0), read_only=True)
    rate_tolerance: float = setting(0.1, "relative disagreement between audio stamps and sample count "
                                    "that is reported as a wrong sample rate", range=(0.01, 1.0))
    default_sample_rate: int = setting(16000, "sample rate assumed until AudioInfo arrives [Hz]",
                                       range=(8000, 48000), read_only=True)
    default_sample_format: str = setting("S16LE", "sample format assumed until AudioInfo arrives",
                                         choices=SAMPLE_FORMATS, read_only=True)


@dataclass(frozen=True)
class Pair(Generic[T]):
    """A frame and the audio window that ends at its stamp."""

    frame: T
    stamp_ns: int
    window: AudioWindow
    status: int
    sync_offset_s: float  # matched chunk end - frame stamp; NaN when the policy found none

    @property
    def status_name(self) -> str:
        return AUDIO_STATUS_NAMES[self.status]


class Matcher(Protocol):
    """An approximate-time synchronizer keyed on nanosecond stamps (message_filters' policy)."""

    def add(self, index: int, stamp_ns: int, item: Any) -> Optional[tuple[Any, ...]]: ...

    def clear(self) -> None: ...


#: A step between two chunks this large is a clock event worth counting: the arrival jitter of a
#: driver that stamps on arrival mostly stays below it, and audio_node re-anchors only beyond
#: ``max_drift_ms`` (50 ms).
CLOCK_STEP_NS = 20_000_000


class AudioRateCheck:
    """Compares how far audio stamps advance with how many samples arrived, over the last
    ``chunks`` chunks, and tells a wrong sample rate from a clock step.

    A wrong rate in AudioInfo stretches every interval between chunk stamps (a driver or bag
    stamping by capture time), or, behind a sample clock that corrects itself (audio_node),
    shows as re-anchor steps that keep coming in one direction. A sample clock re-anchored once
    (its process was starved and fell behind, or caught up) is one step between chunks that
    otherwise agree. So an interval whose stamps-over-samples ratio differs from the window's
    median by more than ``tolerance`` is a *step*; the rate is judged on the other intervals, and
    on all of them only when at least ``persistent_steps`` steps in the window go the same way.
    A step of at least ``CLOCK_STEP_NS`` is counted (``clock_steps``, ``last_step_ns``; a lost
    chunk reads as a step of one chunk) and never by itself reported as a rate. Intervals longer than 10x their chunk are gaps (a pause, a
    jump), not evidence about the rate; one lost or odd-sized chunk moves nothing. Steps back are
    kept (a clock that runs ahead of its samples keeps stepping back)."""

    def __init__(self, tolerance: float = 0.1, chunks: int = 64, min_chunks: int = 20,
                 persistent_steps: int = 3) -> None:
        self.tolerance = tolerance
        self.min_chunks = min_chunks
        self.persistent_steps = persistent_steps
        self._chunks: deque[tuple[int, int]] = deque(maxlen=chunks)
        self._rate = 0
        self.ratio = 1.0
        self.problem = ""
        self.clock_steps = 0
        self.last_step_ns = 0

    def reset(self) -> None:
        self._chunks.clear()
        self.ratio, self.problem = 1.0, ""

    def add(self, start_ns: int, n_samples: int, rate: int) -> bool:
        """Record a chunk; True when the stream now disagrees with ``rate``. A clock step in the
        newest interval increments ``clock_steps``."""
        if rate != self._rate:
            self.reset()
            self._rate = rate
        self._chunks.append((start_ns, n_samples))
        items = list(self._chunks)
        spans: list[tuple[float, float]] = []  # (seconds the stamps advance, seconds the samples span)
        newest_is_interval = False
        for (s0, n0), (s1, _) in zip(items, items[1:]):
            span, want = (s1 - s0) / NS, n0 / rate
            # A step back (span <= 0) is kept: a clock that runs ahead of its samples steps back.
            newest_is_interval = want > 0 and -10 * want <= span <= 10 * want and span != 0
            if newest_is_interval:
                spans.append((span, want))
        if len(spans) < self.min_chunks:
            return False
        median = float(np.median([a / w for a, w in spans]))
        steps = [(a, w) for a, w in spans if abs(a / w - median) > self.tolerance]
        kept = [(a, w) for a, w in spans if abs(a / w - median) <= self.tolerance]
        trimmed = sum(a for a, _ in kept) / sum(w for _, w in kept) if kept else median
        if newest_is_interval and spans[-1] in steps:
            step_ns = int((spans[-1][0] - spans[-1][1] * trimmed) * NS)
            if abs(step_ns) >= CLOCK_STEP_NS:
                self.clock_steps += 1
                self.last_step_ns = step_ns
        ratio = trimmed
        forward = sum(1 for a, w in steps if a > w * trimmed)
        if max(forward, len(steps) - forward) >= self.persistent_steps:
            ratio = sum(a for a, _ in spans) / sum(w for _, w in spans)  # the steps are the rate
        self.ratio = ratio
        if abs(ratio - 1.0) > self.tolerance:
            self.problem = (f"audio stamps advance {ratio:.2f}x the time its samples span over the "
                            f"last {len(spans)} chunks: the stream runs at ~{rate / ratio:.0f} Hz, "
                            f"AudioInfo says {rate} Hz")
            return True
        self.problem = ""
        return False


class AvPairer(Generic[T]):
    """The pairing state machine (see the module docstring). Not thread-safe: drive it from one
    thread (a node's single-threaded executor, or a loop)."""

    def __init__(self, settings: PairingSettings = PairingSettings(),
                 matcher: Optional[Callable[[int, float], Matcher]] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self.clock = clock
        self.counters = {name: 0 for name in COUNTERS}
        self.sample_format, self.channels = settings.default_sample_format, 1
        self.format_known = False
        self.buffer = AudioRingBuffer(settings.default_sample_rate, settings.buffer_s)
        self.frame_order = StampOrder(jump_s=0.5)
        self.audio_order = StampOrder(jump_s=0.25)  # the ring buffer's own jump tolerance
        self.limiter = RateLimiter(settings.rate_hz)
        self.rate_check = AudioRateCheck(settings.rate_tolerance)
        make = matcher or (lambda q, slop: ApproximateTimePolicy(2, q, slop))
        self.matcher = make(settings.queue_size, settings.slop_s)
        self.pending: dict[int, tuple[T, float]] = {}
        self._offsets: dict[int, float] = {}
        self.audio_ever = False

    # -- settings -----------------------------------------------------------------------------
    def update(self, settings: PairingSettings) -> None:
        """Apply run-time changes (rate, window, waits, tolerances); fixed ones need a restart."""
        self.settings = settings
        self.limiter.set_rate(settings.rate_hz)
        self.rate_check.tolerance = settings.rate_tolerance

    @property
    def sample_rate(self) -> int:
        return self.buffer.sample_rate

    def set_audio_format(self, sample_format: str, channels: int, sample_rate: int) -> None:
        """From AudioInfo; a new rate restarts the buffer (old samples would be misplaced)."""
        if channels < 1 or sample_rate <= 0:
            raise ValueError(f"invalid audio format: {channels} channel(s) at {sample_rate} Hz")
        if sample_rate != self.buffer.sample_rate:
            self.buffer = AudioRingBuffer(sample_rate, self.settings.buffer_s)
            self.rate_check.reset()
        self.sample_format, self.channels, self.format_known = sample_format, channels, True

    @property
    def rate_problem(self) -> str:
        return self.rate_check.problem

    @property
    def last_clock_step_ms(self) -> float:
        """Size of the newest audio clock step (0 before any)."""
        return self.rate_check.last_step_ns / 1e6

    # -- inputs ---------------------------------------------------------------------------------
    def add_audio(self, start_ns: int, data: bytes | np.ndarray) -> tuple[str, str]:
        """Decode and store a chunk; returns (outcome, detail for a log line)."""
        try:
            samples = (np.asarray(data, np.float32).reshape(-1) if isinstance(data, np.ndarray)
                       else decode_pcm(data, self.sample_format, self.channels))
        except AudioFormatError as exc:
            self.counters["audio_bad_chunks"] += 1
            return BAD_CHUNK, str(exc)
        if samples.size == 0:
            self.counters["audio_bad_chunks"] += 1
            return BAD_CHUNK, "empty audio chunk"
        # Judged before the order check: a sender whose clock steps back is evidence about its rate.
        steps = self.rate_check.clock_steps
        if self.rate_check.add(start_ns, samples.size, self.buffer.sample_rate):
            self.counters["audio_rate_mismatch"] += 1
        detail = ""
        if self.rate_check.clock_steps > steps:
            self.counters["audio_clock_steps"] += 1
            detail = (f"audio stamps stepped {self.rate_check.last_step_ns / 1e6:+.0f} ms between two chunks "
                      "that otherwise follow the sample rate (a sample clock re-anchored, or chunks were "
                      "lost): counted as a clock step, not a rate change")
        if self.audio_order.check(start_ns) == OUT_OF_ORDER:
            self.counters["audio_out_of_order"] += 1
            return OUT_OF_ORDER_DROPPED, (f"audio chunk stamped {start_ns / NS:.3f} s is not after the "
                                          f"previous chunk ({self.audio_order.newest_ns / NS:.3f} s)"
                                          + (f"; {detail}" if detail else ""))
        self.audio_ever = True
        outcome = ACCEPTED
        if not self.buffer.add(start_ns, samples):
            self._clock_jump()
            outcome = CLOCK_JUMP
        self.counters["audio_chunks"] += 1
        end = start_ns + samples.size * NS // self.buffer.sample_rate
        matched = self.matcher.add(1, end, end)
        if matched is not None:
            self._on_match(*matched)
        return outcome, detail

    def add_frame(self, stamp_ns: int, frame: T) -> str:
        """Offer a frame; returns ACCEPTED, CLOCK_JUMP (accepted after a reset), RATE_LIMITED,
        OUT_OF_ORDER_DROPPED or UNSTAMPED."""
        self.counters["frames_in"] += 1
        if stamp_ns <= 0:
            self.counters["frames_unstamped"] += 1
            return UNSTAMPED
        outcome = ACCEPTED
        order = self.frame_order.check(stamp_ns)
        if order == JUMP_BACK:
            self._clock_jump()
            self.buffer.clear()
            outcome = CLOCK_JUMP
        elif order == OUT_OF_ORDER:
            self.counters["frames_out_of_order"] += 1
            return OUT_OF_ORDER_DROPPED
        if not self.limiter.accept(stamp_ns):
            self.counters["frames_rate_limited"] += 1
            return RATE_LIMITED
        self.pending[stamp_ns] = (frame, self.clock())
        matched = self.matcher.add(0, stamp_ns, stamp_ns)
        if matched is not None:
            self._on_match(*matched)
        return outcome

    def _on_match(self, frame_stamp: int, chunk_end: int) -> None:
        if frame_stamp in self.pending:
            self.counters["pairs_synchronized"] += 1
            self._offsets[frame_stamp] = (chunk_end - frame_stamp) / NS

    def _clock_jump(self) -> None:
        self.counters["clock_jumps"] += 1
        self.pending.clear()
        self._offsets.clear()
        self.matcher.clear()
        self.rate_check.reset()

    # -- output ---------------------------------------------------------------------------------
    def release(self, force: bool = False) -> list[Pair[T]]:
        """Frames that are done waiting, oldest first: covered by audio, waited ``max_wait_s``,
        or (while no audio has ever arrived) at once. ``force``: all of them."""
        if not self.pending:
            return []
        newest = self.buffer.newest_ns
        now = self.clock()
        out = []
        for stamp in sorted(self.pending):
            frame, arrived = self.pending[stamp]
            ready = (force or not self.audio_ever
                     or (newest is not None and newest >= stamp)
                     or now - arrived >= self.settings.max_wait_s)
            if ready:
                del self.pending[stamp]
                out.append(self._pair(stamp, frame))
        return out

    def _pair(self, stamp: int, frame: T) -> Pair[T]:
        window = self.buffer.window(stamp, self.settings.window_s)
        status = audio_status(window, self.settings.stale_s)
        self.counters["pairs_out"] += 1
        self.counters[f"pairs_{AUDIO_STATUS_NAMES[status]}"] += 1
        return Pair(frame, stamp, window, status, self._offsets.pop(stamp, float("nan")))

    def samples_of(self, pair: Pair[T]) -> Optional[np.ndarray]:
        """The window's samples, or None when the pair has no audio."""
        return None if pair.status == AUDIO_MISSING else pair.window.samples

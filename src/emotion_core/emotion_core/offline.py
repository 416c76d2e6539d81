"""A clip on the graph's time axis, and what the graph computes for it, without ROS.

``ClipTiming`` places a clip's frames and audio chunks on absolute stamps; the dataset
converter writes bags with exactly these stamps. ``offline_estimates`` then does what
av_sync_node + emotion_node do to those stamps (stamp rate limit, audio ring buffer, window
ending at the frame, recognizer with smoothing) in-process, so a bag replay through the running
graph can be checked against it: agreement proves the contract holds end to end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np

from .evaluation import Estimate
from .recognizer import EmotionRecognizer
from .sync import AUDIO_MISSING, AudioRingBuffer, RateLimiter, audio_status

NS = 1_000_000_000


@dataclass(frozen=True)
class ClipTiming:
    """Frame ``i`` is stamped ``base + i / fps``; audio chunk ``j`` (``chunk_samples`` long)
    starts at ``base + j * chunk_samples / sample_rate``: video and audio share t = 0."""

    base_ns: int
    fps: float
    sample_rate: int
    chunk_samples: int

    def __post_init__(self) -> None:
        if self.fps <= 0 or self.sample_rate <= 0 or self.chunk_samples <= 0:
            raise ValueError(f"invalid clip timing {self}")

    def frame_stamp(self, index: int) -> int:
        return self.base_ns + round(index * NS / self.fps)

    def chunk_stamp(self, index: int) -> int:
        return self.base_ns + (index * self.chunk_samples * NS) // self.sample_rate

    def chunks(self, samples: np.ndarray) -> Iterator[tuple[int, np.ndarray]]:
        """(start stamp, samples) of each chunk; the last one may be short."""
        for j, lo in enumerate(range(0, samples.size, self.chunk_samples)):
            yield self.chunk_stamp(j), samples[lo:lo + self.chunk_samples]

    def duration_ns(self, n_frames: int, n_samples: int) -> int:
        return max(round(n_frames * NS / self.fps), (n_samples * NS) // self.sample_rate)


def offline_estimates(recognizer: EmotionRecognizer, timing: ClipTiming, frames: Sequence[np.ndarray],
                      audio: Optional[np.ndarray], rate_hz: float, window_s: float,
                      stale_s: float = 0.5, buffer_s: float = 10.0) -> list[Estimate]:
    """Estimates for the frames the graph would accept, each with the audio window ending at it.

    The smoother is reset first: the converter leaves gaps between clips longer than its reset
    interval, so the graph starts every clip afresh too.
    """
    recognizer.smoother.reset()
    limiter = RateLimiter(rate_hz)
    buffer = AudioRingBuffer(timing.sample_rate, buffer_s)
    chunks = list(timing.chunks(audio)) if audio is not None and audio.size else []
    j, out = 0, []
    for i, bgr in enumerate(frames):
        stamp = timing.frame_stamp(i)
        if not limiter.accept(stamp):
            continue
        # av_sync cuts the window once audio reaching the frame has arrived (or gave up waiting).
        while j < len(chunks) and (buffer.newest_ns is None or buffer.newest_ns < stamp):
            buffer.add(*chunks[j])
            j += 1
        window = buffer.window(stamp, window_s)
        status = audio_status(window, stale_s)
        samples = None if status == AUDIO_MISSING else window.samples
        r = recognizer.process(bgr, samples, timing.sample_rate, stamp)
        out.append(Estimate(stamp, r.label, tuple(float(p) for p in r.probabilities),
                            r.face_present, r.voice_present, status))
    return out

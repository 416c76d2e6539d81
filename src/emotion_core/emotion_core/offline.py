"""A clip on the graph's time axis, and what the graph computes for it, without ROS.

``ClipTiming`` places a clip's frames and audio chunks on absolute stamps; the dataset
converter writes bags with exactly these stamps. ``offline_estimates`` then drives the same
``AvPairer`` av_sync_node drives, and the recognizer emotion_node runs, in-process, so a bag
replay through the running graph can be checked against it: agreement proves the contract holds
end to end.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Optional, Sequence

import numpy as np

from .evaluation import Estimate
from .recognizer import EmotionRecognizer
from .pairing import AvPairer, PairingSettings

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
                      audio: Optional[np.ndarray], settings: PairingSettings = PairingSettings(),
                      ) -> list[Estimate]:
    """Estimates for the frames the graph would accept, each with the audio window ending at it,
    from av_sync_node's own pairer fed the clip in stamp order.

    The smoother is reset first: the converter leaves gaps between clips longer than its reset
    interval, so the graph starts every clip afresh too.
    """
    recognizer.reset()
    pairer: AvPairer[np.ndarray] = AvPairer(settings)
    pairer.set_audio_format("F32LE", 1, timing.sample_rate)
    chunks = list(timing.chunks(audio)) if audio is not None and audio.size else []
    j, out = 0, []
    for i, bgr in enumerate(frames):
        stamp = timing.frame_stamp(i)
        while j < len(chunks) and chunks[j][0] < stamp:  # captured before the frame: already here
            pairer.add_audio(*chunks[j])
            j += 1
        pairer.add_frame(stamp, bgr)
        # Audio arrives while the frame waits: feed chunks until the pairer lets it go (covered),
        # then whatever is still pending goes out as it would after max_wait_s.
        pairs = pairer.release()
        while not pairs and pairer.pending and j < len(chunks):
            pairer.add_audio(*chunks[j])
            j += 1
            pairs = pairer.release()
        pairs += pairer.release(force=True)
        for pair in pairs:
            r = recognizer.process(pair.frame, pairer.samples_of(pair), timing.sample_rate, pair.stamp_ns)
            out.append(Estimate(pair.stamp_ns, r.label, tuple(float(p) for p in r.probabilities),
                                r.face_present, r.voice_present, pair.status))
    return out

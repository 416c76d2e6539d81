"""EmotionRecognizer end to end on the real sample ONNX model, plus a scripted backend where the
test needs to control the model's answer.

The sample model fuses with a masked softmax over two gates: a branch whose mask is 0 gets a
-1e4 penalty, so its weight is exp(-1e4) = 0 in float32 and the fused logits equal the other
branch's logits. That fact, not a recorded output, is what the fusion checks below rely on.
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pytest

from emotion_core import audio as audio_mod
from emotion_core.contract import AudioSpec, FaceSpec, ModelContract
from emotion_core.face import FaceBox
from emotion_core.recognizer import STAGES, UNKNOWN, EmotionRecognizer, softmax

NS = 1_000_000_000
SR = 16000


class SpyBackend:
    """Wraps a backend, counting calls and keeping the last feeds."""

    name = "spy"

    def __init__(self, inner) -> None:
        self.inner = inner
        self.input_names = inner.input_names
        self.output_names = inner.output_names
        self.calls = 0
        self.feeds: dict[str, np.ndarray] = {}

    def run(self, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        self.calls += 1
        self.feeds = {k: np.array(v) for k, v in feeds.items()}
        return self.inner.run(feeds)


class ScriptedBackend:
    """Returns ``log(p)`` as logits (so softmax gives back ``p``) for a settable ``p``."""

    name = "scripted"
    input_names = ["face"]
    output_names = ["logits"]

    def __init__(self, p) -> None:
        self.p = np.asarray(p, np.float64)
        self.calls = 0
        self.feeds: dict[str, np.ndarray] = {}

    def run(self, feeds):
        self.calls += 1
        self.feeds = dict(feeds)
        return {"logits": np.log(self.p)[None].astype(np.float32)}


class FixedDetector:
    name = "fixed"

    def __init__(self, boxes) -> None:
        self.boxes = list(boxes)

    def detect(self, bgr):
        return list(self.boxes)


def tone(freq: float, seconds: float, rate: int = SR, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def voiced(seconds: float = 2.0, rate: int = SR) -> np.ndarray:
    """A harmonic 150 Hz source, well above the -45 dBFS voice threshold."""
    return sum(tone(150.0 * k, seconds, rate, 0.2 / k) for k in range(1, 6)).astype(np.float32)


@pytest.fixture()
def spy(sample_model):
    return SpyBackend(sample_model[0])


@pytest.fixture()
def recognizer(spy, sample_model, haar):
    return EmotionRecognizer(spy, sample_model[1], detector=haar)


def assert_distribution(p: np.ndarray, n: int) -> None:
    assert p.shape == (n,)
    assert np.all(p >= 0) and p.sum() == pytest.approx(1.0, abs=1e-5)


# -- the real model --------------------------------------------------------------------------------
def test_astronaut_with_silence_is_recognised_from_the_face(recognizer, spy, astronaut_bgr):
    c = recognizer.contract
    r = recognizer.process(astronaut_bgr, np.zeros(2 * SR, np.float32), SR, 5 * NS)
    assert r.face_present and r.face_used
    assert not r.voice_present and not r.voice_used
    assert r.face_box is not None and r.face_box.x <= 225 < r.face_box.x + r.face_box.w  # the mouth
    assert spy.calls == 1
    # What reached the model: one face crop, an all-zero audio branch, mask (1, 0).
    assert spy.feeds[c.inputs["face"]].shape == (1, 3, c.face.size, c.face.size)
    assert not spy.feeds[c.inputs["audio"]].any()
    np.testing.assert_array_equal(spy.feeds[c.inputs["modality_mask"]], [[1.0, 0.0]])
    # The masked branch has zero weight, so the fused answer is the face branch's answer.
    assert r.face_weight == pytest.approx(1.0, abs=1e-6) and r.voice_weight < 1e-6
    np.testing.assert_allclose(r.raw_probabilities, r.face_probabilities, atol=1e-6)
    assert r.voice_probabilities.size == 0
    assert_distribution(r.probabilities, len(c.labels))
    assert r.label == c.labels[int(np.argmax(r.probabilities))]
    assert r.confidence == pytest.approx(float(r.probabilities.max()))
    assert set(r.timings_ms) == set(STAGES)
    stages = sum(v for k, v in r.timings_ms.items() if k != "total")
    assert 0 < r.timings_ms["inference"] and stages <= r.timings_ms["total"] + 1e-6
    assert r.timings_ms["features"] == 0.0  # silence: no voice features


def test_voice_without_a_face_is_recognised_from_the_voice(recognizer, spy):
    c = recognizer.contract
    blank = np.full((240, 320, 3), 127, np.uint8)
    r = recognizer.process(blank, voiced(), SR, 5 * NS)
    assert not r.face_present and not r.face_used
    assert r.voice_present and r.voice_used
    np.testing.assert_array_equal(spy.feeds[c.inputs["modality_mask"]], [[0.0, 1.0]])
    assert not spy.feeds[c.inputs["face"]].any()
    assert spy.feeds[c.inputs["audio"]].shape == (1, 1, c.audio.n_mels, c.audio.frames)
    np.testing.assert_allclose(spy.feeds[c.inputs["audio"]][0, 0], audio_mod.log_mel(voiced(), c.audio),
                               rtol=1e-5, atol=1e-5)
    assert r.voice_weight == pytest.approx(1.0, abs=1e-6) and r.face_weight < 1e-6
    np.testing.assert_allclose(r.raw_probabilities, r.voice_probabilities, atol=1e-6)


def test_face_and_voice_are_fused_with_weights_that_sum_to_one(recognizer, spy, astronaut_bgr):
    r = recognizer.process(astronaut_bgr, voiced(), SR, 5 * NS)
    assert r.face_used and r.voice_used
    np.testing.assert_array_equal(spy.feeds[recognizer.contract.inputs["modality_mask"]], [[1.0, 1.0]])
    assert r.face_weight + r.voice_weight == pytest.approx(1.0, abs=1e-5)
    assert 0 < r.face_weight < 1
    assert_distribution(r.face_probabilities, 7)
    assert_distribution(r.voice_probabilities, 7)


def test_no_face_and_silence_is_unknown_without_inference(recognizer, spy):
    blank = np.zeros((240, 320, 3), np.uint8)
    r = recognizer.process(blank, np.zeros(2 * SR, np.float32), SR, 5 * NS)
    assert spy.calls == 0
    assert r.label == UNKNOWN and r.confidence == 0.0
    assert r.probabilities.size == 0 and r.raw_probabilities.size == 0
    assert not (r.face_present or r.voice_present or r.face_used or r.voice_used)
    assert r.timings_ms["inference"] == 0.0 and r.timings_ms["detect"] > 0


def test_missing_inputs_are_unknown_without_inference(recognizer, spy):
    assert recognizer.process(None, None, SR, 0).label == UNKNOWN
    assert recognizer.process(None, np.zeros(0, np.float32), SR, 0).label == UNKNOWN
    assert spy.calls == 0


def test_only_the_window_ending_at_the_frame_counts(recognizer, spy):
    # 1 s of voice followed by 2 s of silence: the 2 s window that ends at the frame is silent.
    samples = np.concatenate([voiced(1.0), np.zeros(2 * SR, np.float32)])
    r = recognizer.process(None, samples, SR, 5 * NS)
    assert not r.voice_present and spy.calls == 0


def test_48k_audio_is_resampled_to_the_contract_rate(recognizer, spy):
    spec = recognizer.contract.audio
    r = recognizer.process(None, tone(1000.0, 2.0, rate=48000), 48000, 5 * NS)
    assert r.voice_used
    feats = spy.feeds[recognizer.contract.inputs["audio"]][0, 0]
    assert feats.shape == (spec.n_mels, spec.frames)
    centres = band_centres(spec)
    peak = int(np.argmax(feats[:, 5:-5].mean(axis=1)))
    # At 16 kHz the tone is at 1 kHz; read as 16 kHz without resampling it would sit at 3 kHz.
    assert abs(centres[peak] - 1000.0) < abs(centres[peak] - 3000.0)
    assert peak == int(np.argmin(np.abs(centres - 1000.0)))
    native = audio_mod.log_mel(tone(1000.0, 2.0, rate=SR), spec)
    assert np.abs(feats[peak, 5:-5] - native[peak, 5:-5]).max() < 0.05


def band_centres(spec: AudioSpec) -> np.ndarray:
    """Centres of the Slaney mel filters (see test_audio for the derivation)."""
    def to_mel(f):
        return f * 3 / 200 if f < 1000 else 15 + math.log(f / 1000) * 27 / math.log(6.4)

    def to_hz(m):
        return m * 200 / 3 if m < 15 else 1000 * math.exp((m - 15) * math.log(6.4) / 27)

    mels = np.linspace(to_mel(spec.fmin), to_mel(spec.fmax), spec.n_mels + 2)[1:-1]
    return np.array([to_hz(m) for m in mels])


# -- smoothing and single-modality models with a scripted backend ------------------------------------
FACE_ONLY = ModelContract(labels=("happy", "sad", "neutral"), modalities=("face",), face=FaceSpec(size=16))
A = np.array([0.8, 0.1, 0.1])
B = np.array([0.1, 0.8, 0.1])


def scripted_recognizer(tau: float = 0.5):
    backend = ScriptedBackend(A)
    rec = EmotionRecognizer(backend, FACE_ONLY, detector=FixedDetector([FaceBox(4, 4, 24, 24)]),
                            smoothing_tau_s=tau)
    return rec, backend


FRAME = np.zeros((32, 32, 3), np.uint8)


@pytest.mark.parametrize("fps", [30.0, 10.0, 7.0])
def test_smoothing_converges_by_stamp_time_not_call_count(fps):
    tau = 0.5
    rec, backend = scripted_recognizer(tau)
    t0 = 100 * NS
    rec.process(FRAME, None, SR, t0)  # state = A
    backend.p = B
    n = int(round(1.0 * fps))
    for i in range(1, n + 1):
        r = rec.process(FRAME, None, SR, t0 + int(round(i * NS / fps)))
    # After 1 s of B: exp(-1 / tau) A + (1 - exp(-1 / tau)) B, at any frame rate.
    w = math.exp(-1.0 / tau)
    np.testing.assert_allclose(r.probabilities, w * A + (1 - w) * B, rtol=1e-5)
    np.testing.assert_allclose(r.raw_probabilities, B, rtol=1e-5)
    assert r.label == "sad"
    assert backend.calls == n + 1


def test_unknown_frames_leave_the_smoother_alone():
    rec, backend = scripted_recognizer(0.5)
    rec.process(FRAME, None, SR, 0)
    rec.detector.boxes = []
    assert rec.process(FRAME, None, SR, NS // 10).label == UNKNOWN
    rec.detector.boxes = [FaceBox(4, 4, 24, 24)]
    backend.p = B
    r = rec.process(FRAME, None, SR, NS // 5)  # 0.2 s after the last estimate, not 0.1 s
    w = math.exp(-0.2 / 0.5)
    np.testing.assert_allclose(r.probabilities, w * A + (1 - w) * B, rtol=1e-5)


def test_single_modality_model_gets_only_its_input_and_full_weight():
    rec, backend = scripted_recognizer()
    r = rec.process(FRAME, voiced(), SR, 0)
    assert set(backend.feeds) == {"face"}  # no audio, no mask: the contract names neither
    assert backend.feeds["face"].shape == (1, 3, 16, 16)
    # The model has no voice input, but voice activity is still reported for behaviour nodes.
    assert r.face_used and not r.voice_used and r.voice_present is True
    assert (r.face_weight, r.voice_weight) == (1.0, 0.0)
    np.testing.assert_allclose(r.face_probabilities, A, rtol=1e-5)
    assert r.voice_probabilities.size == 0


def test_use_face_false_ignores_the_frame():
    rec, backend = scripted_recognizer()
    rec = EmotionRecognizer(backend, FACE_ONLY, detector=None, use_face=False)
    r = rec.process(FRAME, None, SR, 0)
    assert r.label == UNKNOWN and backend.calls == 0


def test_face_model_needs_a_detector():
    with pytest.raises(ValueError, match="needs a face detector"):
        EmotionRecognizer(ScriptedBackend(A), FACE_ONLY, detector=None)


def test_invalid_contract_is_refused_at_construction():
    bad = ModelContract(labels=("a",), modalities=("face",), face=FaceSpec())
    with pytest.raises(ValueError, match="labels"):
        EmotionRecognizer(ScriptedBackend(A), bad, detector=FixedDetector([]))


def test_softmax_is_shift_invariant_and_stable():
    x = np.array([[1000.0, 1001.0, 1002.0]])
    e = np.exp([0.0, 1.0, 2.0])
    np.testing.assert_allclose(softmax(x), [e / e.sum()])
    np.testing.assert_allclose(softmax(x - 1000.0), softmax(x))

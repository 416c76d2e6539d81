"""The speech envelope the speaker scoring correlates mouths with: one cumulative sum serves
every stamp, and it is the RMS over each stamp's interval (checked against the direct mean);
the scorer asks for it once per frame, for the stamps of all faces together."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.speaker import SpeakerScorer, SpeakerSettings, speech_envelope

NS = 1_000_000_000
RATE = 16000


def direct_rms(samples: np.ndarray, start_ns: int, t: int, interval_ns: int) -> float:
    lo = max(int((t - interval_ns - start_ns) * RATE // NS), 0)
    hi = min(int((t - start_ns) * RATE // NS), samples.size)
    return float(np.sqrt(np.mean(np.square(samples[lo:hi], dtype=np.float64)))) if hi > lo else 0.0


def test_envelope_is_the_rms_before_each_stamp():
    rng = np.random.default_rng(3)
    samples = (rng.standard_normal(2 * RATE) * np.linspace(0.0, 0.5, 2 * RATE)).astype(np.float32)
    end = 50 * NS
    start = end - 2 * NS
    interval = NS // 10
    # inside, at both edges, partly and fully outside the window
    stamps = np.array([start - NS, start + NS // 20, start + NS // 2, end - 1, end, end + NS // 20], np.int64)
    got = speech_envelope(samples, RATE, end, stamps, interval)
    want = [direct_rms(samples, start, int(t), interval) for t in stamps]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)
    assert got[0] == 0.0 and got[2] > got[1] > 0.0  # louder later; nothing before the window


def test_envelope_is_weighted_by_the_vad_at_mid_interval():
    samples = np.full(RATE, 0.1, np.float32)
    asked = []

    def vad_at(stamps):
        asked.append(stamps.copy())
        return np.where(stamps > 9 * NS + NS // 2, 1.0, 0.25)

    stamps = np.array([9 * NS + NS // 4, 9 * NS + 3 * NS // 4], np.int64)
    got = speech_envelope(samples, RATE, 10 * NS, stamps, NS // 10, vad_at)
    np.testing.assert_allclose(got, [0.025, 0.1], rtol=1e-6)
    np.testing.assert_array_equal(asked[0], stamps - NS // 20)


def test_scorer_reads_the_audio_once_per_frame_for_all_faces():
    scorer = SpeakerScorer(SpeakerSettings(speaker_window_s=1.0))
    rng = np.random.default_rng(0)
    for k in range(20):
        scorer.observe(k * NS // 10, {1: float(rng.random()), 2: float(rng.random()), 3: float("nan")})
    calls = []

    def envelope(stamps):
        calls.append(stamps)
        return np.sin(stamps / NS * 7.0) + 1.0

    out = scorer.score(19 * NS // 10, [1, 2, 3], envelope)
    assert len(calls) == 1 and len(calls[0]) == len(set(calls[0].tolist())) == 11
    assert np.isfinite(out[1]) and np.isfinite(out[2]) and np.isnan(out[3])  # 3 has no readings
    # the same as asking per face
    for tid in (1, 2):
        alone = scorer.score(19 * NS // 10, [tid], envelope)[tid]
        assert alone == pytest.approx(out[tid], abs=1e-12)

"""emotion_core.evaluation and emotion_core.offline: scoring estimates against labelled time
ranges, comparing two evaluations, and the graph's computation replayed in-process."""
from __future__ import annotations

import math

import numpy as np
import pytest

from emotion_core.evaluation import (Estimate, compare_frames, compare_segments, format_report,
                                     modality_shares, score_estimates)
from emotion_core.labels_timeline import LabelSegment, LabelTimeline
from emotion_core.offline import ClipTiming, offline_estimates
from emotion_core.pairing import PairingSettings

NS = 1_000_000_000
LABELS = ("angry", "happy", "sad")


def est(t_s, probs, label=None, **kw):
    label = label or LABELS[int(np.argmax(probs))]
    return Estimate(int(t_s * NS), label, tuple(probs), **kw)


def test_frame_and_segment_scores():
    tl = LabelTimeline([LabelSegment(0, NS, "happy", "a"), LabelSegment(2 * NS, 3 * NS, "Anger", "b"),
                        LabelSegment(4 * NS, 5 * NS, "calm", "c"), LabelSegment(6 * NS, 7 * NS, "sad", "d")])
    estimates = [est(0.1, (0.1, 0.8, 0.1)), est(0.5, (0.6, 0.3, 0.1)), est(0.9, (0.2, 0.7, 0.1)),
                 est(2.5, (0.5, 0.4, 0.1)), est(2.6, (), label="unknown"),
                 est(4.5, (0.3, 0.3, 0.4)), est(10.0, (1, 0, 0))]
    r = score_estimates(estimates, tl, LABELS)
    assert r["frame_level"]["samples"] == 5 and r["frame_level"]["without_prediction"] == 1
    assert r["frame_level"]["accuracy"] == pytest.approx(3 / 5)
    seg = {s["id"]: s for s in r["segments"]}
    assert seg["a"]["predicted"] == "happy" and seg["a"]["frames"] == 3  # mean of the three
    assert seg["b"]["predicted"] == "angry" and seg["b"]["label"] == "angry"  # synonym mapped
    assert seg["d"]["predicted"] is None and seg["d"]["frames"] == 0  # nothing: counted wrong
    assert r["segment_level"]["accuracy"] == pytest.approx(2 / 3)
    assert r["unmapped_labels"] == {"calm": 1} and r["estimates_outside_labels"] == 1


def test_modality_shares_and_comparisons():
    a = [est(0, (0.2, 0.8, 0.0), face_present=True, voice_present=False, audio_status=3),
         est(1, (0.9, 0.1, 0.0), face_present=False, voice_present=True)]
    shares = modality_shares(a)
    assert shares["no_face_share"] == 0.5 and shares["audio_status"] == {"missing": 1, "ok": 1}
    b = [est(0, (0.25, 0.75, 0.0)), est(1, (0.9, 0.1, 0.0)), est(2, (1, 0, 0))]
    f = compare_frames(a, b)
    assert f["frames_compared"] == 2 and f["label_agreement"] == 1.0
    assert f["max_abs_prob_diff"] == pytest.approx(0.05)
    segs = [{"id": "x", "predicted": "happy", "probabilities": [0.2, 0.8]}]
    other = [{"id": "x", "predicted": "angry", "probabilities": [0.6, 0.4]},
             {"id": "y", "predicted": None, "probabilities": []}]
    c = compare_segments(segs, other)
    assert c["clips_compared"] == 1 and c["clips_missing"] == 1 and c["label_agreement"] == 0.0
    assert c["max_abs_prob_diff"] == pytest.approx(0.4)
    assert math.isnan(compare_segments([], [])["max_abs_prob_diff"])


def test_format_report_names_the_essentials():
    m = {"accuracy": 0.5, "uar": 0.5, "macro_f1": 0.4, "weighted_f1": 0.45, "samples": 4,
         "without_prediction": 1, "per_class": {"happy": {"recall": 0.5, "support": 2}}}
    text = format_report({"model": "m.onnx", "bags": [1], "mode": "paced", "wall_s": 2.0,
                          "replay_speed_x": 3.0, "scores": {"segment_level": m, "frame_level": m},
                          "latency_ms": {"count": 3, "p50": 10.0, "p99": 20.0, "max": 21.0},
                          "skipped": {"clock_jumps": 2, "bad_images": 0},
                          "bag_problems": {"out_of_order_stamps": {"/camera/image_raw": 1}}})
    assert "UAR 0.500" in text and "p99 20.0 ms" in text and "clock_jumps 2" in text
    assert "bad_images" not in text and "out_of_order_stamps" in text


def test_clip_timing_places_frames_and_chunks_on_one_axis():
    t = ClipTiming(base_ns=10 * NS, fps=15.0, sample_rate=16000, chunk_samples=800)
    assert t.frame_stamp(15) == 11 * NS and t.chunk_stamp(20) == 11 * NS
    chunks = list(t.chunks(np.zeros(2000, np.float32)))
    assert [c.size for _, c in chunks] == [800, 800, 400]
    assert t.duration_ns(15, 24000) == int(1.5 * NS)


def test_offline_estimates_follow_the_graph_rules(sample_model, haar, astronaut_bgr):
    """Rate limit by stamp, the window that ends at each frame, no audio before the clip."""
    import cv2

    from emotion_core.recognizer import EmotionRecognizer

    backend, contract = sample_model
    rec = EmotionRecognizer(backend, contract, haar)
    frame = cv2.resize(astronaut_bgr, (160, 160))
    timing = ClipTiming(5 * NS, 15.0, 16000, 800)
    t = np.arange(24000) / 16000
    audio = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    out = offline_estimates(rec, timing, [frame] * 15, audio, PairingSettings(rate_hz=5.0, window_s=2.0))
    stamps = [e.stamp_ns for e in out]
    assert stamps == [timing.frame_stamp(i) for i in (0, 3, 6, 9, 12)]
    assert out[0].audio_status == 3 and not out[0].voice_present  # nothing before the clip
    assert all(e.voice_present and e.face_present for e in out[1:])
    again = offline_estimates(rec, timing, [frame] * 15, audio, PairingSettings(rate_hz=5.0, window_s=2.0))
    assert [e.probabilities for e in again] == [e.probabilities for e in out]  # smoother reset

"""emotion_core.hysteresis: sustained emotions for behaviour nodes."""
from __future__ import annotations

import pytest

from emotion_core.hysteresis import SustainedEmotion

MS = 1_000_000


def feed(det, seq, step_ms=100, t0=0):
    """seq: (label, confidence) per 100 ms; returns [(t_ms, kind, label)]."""
    out = []
    for i, (label, conf) in enumerate(seq):
        for e in det.update(label, conf, t0 + i * step_ms * MS):
            out.append((i * step_ms, e.kind, e.label))
    return out


def test_starts_after_hold_and_ignores_flicker():
    det = SustainedEmotion(0.6, 0.4, hold_s=0.5, release_s=0.5)
    flicker = [("happy", 0.9), ("sad", 0.9)] * 5
    assert feed(det, flicker) == []
    det.reset()
    assert feed(det, [("happy", 0.9)] * 8) == [(500, "start", "happy")]


def test_hysteresis_keeps_it_through_short_dips_and_ends_after_release():
    det = SustainedEmotion(0.6, 0.4, hold_s=0.2, release_s=0.5)
    seq = [("happy", 0.9)] * 3 + [("happy", 0.5)] * 5 + [("neutral", 0.9)] * 3 + [("happy", 0.9)] * 2 \
        + [("neutral", 0.9)] * 6
    events = feed(det, seq)
    # 0.5 is below entry but above exit: stays; a 0.3 s neutral dip is shorter than release.
    assert events == [(200, "start", "happy"), (1800, "end", "happy")]


def test_end_then_new_start_and_watched_labels():
    det = SustainedEmotion(0.6, 0.4, hold_s=0.2, release_s=0.2, labels={"happy", "sad"})
    events = feed(det, [("happy", 0.9)] * 4 + [("sad", 0.9)] * 6)
    assert events == [(200, "start", "happy"), (600, "end", "happy"), (800, "start", "sad")]
    det = SustainedEmotion(0.6, 0.4, hold_s=0.2, release_s=0.2, labels={"happy"})
    assert feed(det, [("neutral", 1.0)] * 10) == []


def test_time_going_back_or_a_long_gap_ends_the_emotion():
    det = SustainedEmotion(0.6, 0.4, hold_s=0.1, release_s=1.0, max_gap_s=2.0)
    assert feed(det, [("sad", 0.9)] * 3) == [(100, "start", "sad")]
    events = det.update("sad", 0.9, 0)  # a looping bag
    assert [e.kind for e in events] == ["end"]
    det.update("sad", 0.9, 100 * MS)
    assert [e.kind for e in det.update("sad", 0.9, 5000 * MS)] == ["end"]  # a 4.9 s gap


def test_invalid_thresholds_are_refused():
    with pytest.raises(ValueError):
        SustainedEmotion(enter_confidence=0.3, exit_confidence=0.5)
    with pytest.raises(ValueError):
        SustainedEmotion(hold_s=-1)

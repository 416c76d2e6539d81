"""Per-person parts of the monitor's report (emotion_core.report): the per-person table rows,
per-track statistics by hand, gap detection, and the summary figure's per-track timeline with
its legends off the data, labelled axes and gaps marked."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emotion_core.report import (EmotionRecord, FaceRecord, face_row, gaps, save_report, speaking_marker,
                                 summarize_tracks, summary_figure, summarize)

NAMES = ["neutral", "happy", "sad"]
NAN = float("nan")


def emotion(t: float) -> EmotionRecord:
    return EmotionRecord(t, 30.0, "happy", 0.8, list(NAMES), [0.1, 0.8, 0.1], True, True, 1.0, 0.0, 0)


def test_face_row_shows_id_label_confidence_and_the_speaking_marker():
    row = face_row(FaceRecord(101.25, "face2", "sad", 0.734, 0.91, True), t0=100.0)
    assert row.split() == ["1.25", "face2", "sad", "0.73", "SPEAKING", "0.91", "+voice"]
    assert face_row(FaceRecord(100.0, "face0", "happy", 0.5, 0.12, False)).split()[-2:] == ["quiet", "0.12"]
    assert speaking_marker(NAN) == "not scored" and speaking_marker(0.5).split()[0] == "SPEAKING"


def test_per_track_statistics_by_hand():
    faces = [FaceRecord(0.0, "face10", "sad", 0.9, 0.0, False),  # numbered ids sort numerically
             FaceRecord(0.0, "face2", "happy", 0.9, NAN, False),
             FaceRecord(0.1, "face2", "happy", 0.8, 0.7, True),
             FaceRecord(0.2, "face2", "neutral", 0.6, 0.9, True),
             FaceRecord(0.3, "face2", "happy", 0.9, 0.2, False)]
    tracks = summarize_tracks(faces)
    assert list(tracks) == ["face2", "face10"]
    t = tracks["face2"]
    assert (t["messages"], t["first_s"], t["last_s"]) == (4, 0.0, 0.3)
    assert t["labels"] == {"happy": 3, "neutral": 1} and t["dominant_label"] == "happy"
    assert t["speaking_share"] == pytest.approx(0.5) and t["scored_share"] == pytest.approx(0.75)
    assert t["voice_used_share"] == pytest.approx(0.5)
    assert tracks["face10"]["speaking_share"] == 0.0


def test_gaps_are_intervals_longer_than_a_few_periods():
    t = [0.0, 0.1, 0.2, 0.3, 0.9, 1.0, 1.1, 1.15]
    assert gaps(t) == [(0.3, 0.9)]
    assert gaps([0.0, 0.1, 0.2, 0.3]) == [] and gaps([0.0, 5.0]) == []  # too few to know the period


@pytest.fixture()
def stream():
    """15 s at 10 Hz with a 1 s hole; face1 speaks 2-5 s, face0 leaves 8-10 s."""
    records, faces = [], []
    for i in range(150):
        if 60 <= i < 70:
            continue
        t = 100.0 + 0.1 * i
        records.append(emotion(t))
        faces.append(FaceRecord(t, "face1", "neutral", 0.7, 0.9 if 20 <= i < 50 else 0.1, 20 <= i < 50))
        if not 80 <= i < 100:
            faces.append(FaceRecord(t, "face0", "happy", 0.9, 0.0, False))
    return records, faces


def test_summary_has_tracks_gaps_and_a_faces_stream(tmp_path, stream):
    records, faces = stream
    summary = save_report(records, tmp_path, faces=faces)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert summary["gaps"] == [[5.9, 7.0]]
    assert summary["faces_messages"] == 140 and set(summary["tracks"]) == {"face0", "face1"}
    assert summary["tracks"]["face1"]["speaking_share"] == pytest.approx(30 / 140)
    assert (summary["tracks"]["face0"]["first_s"], summary["tracks"]["face0"]["last_s"]) == (0.0, 14.9)  # after t0
    lines = (tmp_path / "faces_stream.jsonl").read_text().splitlines()
    assert len(lines) == len(faces) and json.loads(lines[0])["track_id"] == "face1"
    assert (tmp_path / "summary.png").read_bytes()[:4] == b"\x89PNG"
    # /emotion keys stay as they were for existing readers
    assert {k: summary[k] for k in summarize(records)} == summarize(records)


def test_the_figure_has_a_track_timeline_labelled_axes_legends_off_the_data_and_gaps(stream):
    import matplotlib.pyplot as plt

    records, faces = stream
    summary = summarize(records)
    fig = summary_figure(records, faces, summary)
    try:
        fig.canvas.draw()
        axes = fig.axes
        assert len(axes) == 4
        timeline = axes[2]
        assert [t.get_text() for t in timeline.get_yticklabels()] == ["face1", "face0"]  # top to bottom
        for ax in axes:
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
            legend = ax.get_legend()
            assert legend is not None
            # the legend box lies right of the plotting area: it covers no data
            assert legend.get_window_extent().x0 >= ax.get_window_extent().x1
            hatched = [p for p in ax.patches if p.get_hatch() == "///"]
            assert len(hatched) == 1, ax.get_title()  # the one hole of the stream
        # speaking spans: black bars, only on face1's row, covering 2-5 s
        black = [c for c in timeline.collections if np.allclose(c.get_facecolor()[0][:3], 0)]
        spans = [(x, w) for c in black for p in c.get_paths() for x, w in [(p.vertices[:, 0].min(),
                                                                          np.ptp(p.vertices[:, 0]))]]
        assert spans and math.isclose(min(x for x, _ in spans), 2.0, abs_tol=1e-6)
        assert math.isclose(max(x + w for x, w in spans), 5.0, abs_tol=1e-6)
        assert "gap" in axes[0].get_title()
    finally:
        plt.close(fig)


def test_without_faces_the_report_is_the_old_three_panels(tmp_path):
    import matplotlib.pyplot as plt

    records = [emotion(100.0 + 0.1 * i) for i in range(5)]
    fig = summary_figure(records, [], summarize(records))
    try:
        assert len(fig.axes) == 3
    finally:
        plt.close(fig)
    assert "tracks" not in save_report(records, tmp_path)

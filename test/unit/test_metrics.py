"""emotion_core.metrics: the numbers both training and the bag evaluation report."""
from __future__ import annotations

import numpy as np
import pytest

from emotion_core.metrics import (classification_metrics, confusion_matrix, latency_summary,
                                  plot_confusion, plot_latency, score_with_missing)

LABELS = ("angry", "happy", "sad")


def test_confusion_matrix_rows_are_truth_columns_predictions():
    cm = confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


def test_metrics_by_hand():
    # truth: 4 angry, 2 happy; predictions: 3 of the angry right, both happy right.
    m = classification_metrics([0, 0, 0, 0, 1, 1], [0, 0, 0, 1, 1, 1], LABELS)
    assert m["samples"] == 6 and m["accuracy"] == pytest.approx(5 / 6)
    assert m["per_class"]["angry"]["recall"] == pytest.approx(0.75)
    assert m["per_class"]["happy"]["precision"] == pytest.approx(2 / 3)
    assert m["uar"] == pytest.approx((0.75 + 1.0) / 2)  # sad has no support: left out
    f1_angry, f1_happy = 2 * 0.75 / 1.75, 2 * (2 / 3) / (5 / 3)
    assert m["macro_f1"] == pytest.approx((f1_angry + f1_happy) / 2)
    assert m["weighted_f1"] == pytest.approx((4 * f1_angry + 2 * f1_happy) / 6)


def test_missing_predictions_count_as_wrong():
    m = score_with_missing([0, 1, 2], [0, -1, -1], LABELS)
    assert m["accuracy"] == pytest.approx(1 / 3) and m["without_prediction"] == 2
    assert sum(map(sum, m["confusion_matrix"])) == 3


def test_latency_summary_and_empty_input():
    s = latency_summary(np.arange(1, 101, dtype=float))
    assert s["count"] == 100 and s["p50"] == pytest.approx(50.5) and s["max"] == 100
    assert latency_summary([])["count"] == 0


def test_plots_are_written(tmp_path):
    assert plot_confusion([[2, 1], [0, 3]], ("a", "b"), tmp_path / "cm.png", "t").stat().st_size > 1000
    assert plot_latency([0.0, 0.1, 0.2], [10.0, 12.0, 30.0], tmp_path / "lat.png").stat().st_size > 1000

"""Classification and latency metrics shared by training's clip evaluation and the robot's
bag-replay evaluation, so both report the same numbers computed the same way.

UAR (unweighted average recall = macro recall) is the model-selection metric: RAVDESS is
nearly balanced but CREMA-D and users' recordings are not, and accuracy rewards predicting
the majority class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


#: Name of the confusion matrix's last column in ``score_with_missing``: clips the model gave no
#: answer for (no usable input under an ablation, no estimate in a replay).
NO_PREDICTION = "no prediction"


def _scores(cm: np.ndarray, labels: Sequence[str]) -> dict[str, Any]:
    """Metrics of a confusion matrix whose optional extra last column counts missing answers:
    they lower recall and accuracy but are nobody's prediction, so no class's precision moves."""
    n = len(labels)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm[:, :n].sum(axis=0).astype(np.float64)
    tp = np.diag(cm[:, :n]).astype(np.float64)
    recall = _safe_div(tp, support)
    precision = _safe_div(tp, predicted)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    present = support > 0
    total = float(support.sum())
    return {
        "samples": int(total),
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "uar": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "weighted_f1": float((f1 * support).sum() / total) if total else 0.0,
        "per_class": {name: {"recall": float(recall[i]), "precision": float(precision[i]),
                             "f1": float(f1[i]), "support": int(support[i])}
                      for i, name in enumerate(labels)},
        "confusion_matrix": cm.tolist(),
    }


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int],
                           labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, UAR, macro and weighted F1, per-class recall/precision/F1, confusion matrix.

    Classes absent from ``y_true`` are left out of the macro averages (their recall is
    undefined), so a small test fold without one class is not scored as recall 0 there.
    A prediction of -1 (no answer) hands over to ``score_with_missing`` rather than being
    indexed as the last class.
    """
    if (np.asarray(y_pred, int) < 0).any():
        return score_with_missing(y_true, y_pred, labels)
    return _scores(confusion_matrix(y_true, y_pred, len(labels)), labels)


def score_with_missing(y_true: Sequence[int], y_pred: Sequence[int],
                       labels: Sequence[str]) -> dict[str, Any]:
    """``classification_metrics`` where a prediction of -1 (no usable input) is always wrong:
    an evaluation cannot look better by skipping the clips it had nothing to say about.

    Those clips are counted in the confusion matrix's own last column (``confusion_columns``
    ends with ``NO_PREDICTION``), never in another class's column, and ``coverage`` says which
    share of the clips got an answer at all: a branch that answered nothing shows an empty
    matrix with a full "no prediction" column, not a plausible-looking diagonal.
    """
    n = len(labels)
    t, p = np.asarray(y_true, int).reshape(-1), np.asarray(y_pred, int).reshape(-1)
    missing = p < 0
    cm = np.zeros((n, n + 1), np.int64)
    cm[:, :n] = confusion_matrix(t[~missing], p[~missing], n)
    cm[:, n] = np.bincount(t[missing], minlength=n)[:n]
    metrics = _scores(cm, labels)
    for i, name in enumerate(labels):
        metrics["per_class"][name]["no_prediction"] = int(cm[i, n])
    metrics["confusion_columns"] = [*labels, NO_PREDICTION]
    metrics["without_prediction"] = int(missing.sum())
    metrics["coverage"] = float(1.0 - missing.mean()) if t.size else 0.0
    return metrics


def latency_summary(latency_ms: Sequence[float]) -> dict[str, float]:
    """p50/p90/p99/max/mean of latencies in ms (zeros for none, so reports keep their keys)."""
    lat = np.asarray(latency_ms, np.float64)
    if lat.size == 0:
        return {"count": 0, "p50": 0.0, "p90": 0.0, "p99": 0.0, "max": 0.0, "mean": 0.0}
    return {"count": int(lat.size), "p50": float(np.percentile(lat, 50)),
            "p90": float(np.percentile(lat, 90)), "p99": float(np.percentile(lat, 99)),
            "max": float(lat.max()), "mean": float(lat.mean())}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_confusion(cm: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, as a PNG.

    A matrix with one column more than ``labels`` (``score_with_missing``) draws that column
    as "no prediction", hatched and set apart, so clips without an answer are visibly nobody's
    prediction."""
    plt = _pyplot()
    cm = np.asarray(cm)
    n = len(labels)
    if cm.ndim != 2 or cm.shape[0] != n or cm.shape[1] not in (n, n + 1):
        raise ValueError(f"confusion matrix of shape {cm.shape} does not fit {n} labels")
    extra = cm.shape[1] == n + 1
    columns = [*labels, NO_PREDICTION] if extra else list(labels)
    norm = _safe_div(cm.astype(np.float64), cm.sum(axis=1, keepdims=True).astype(np.float64))
    size = 1.0 + 0.6 * n
    fig, ax = plt.subplots(figsize=(size + 1.5 + (0.6 if extra else 0.0), size))
    in_class = np.zeros(norm.shape, bool)
    in_class[:, :n] = True
    im = ax.imshow(np.ma.masked_where(~in_class, norm), cmap="Blues", vmin=0.0, vmax=1.0)
    if extra:  # its own colour: a missing answer is not a class
        ax.imshow(np.ma.masked_where(in_class, norm), cmap="Oranges", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(columns)), columns, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if extra:
        from matplotlib.patches import Rectangle

        ax.axvline(n - 0.5, color="black", linewidth=1.5)
        ax.add_patch(Rectangle((n - 0.5, -0.5), 1, n, fill=False, hatch="//", edgecolor="grey",
                               linewidth=0))
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if norm[i, j] > 0.5 else "black",
                    fontweight="bold" if extra and j == n and cm[i, j] > 0 else "normal")
    fig.colorbar(im, ax=ax, fraction=0.046, label="share of the true class")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(stamps_s: Sequence[float], latency_ms: Sequence[float], path: str | Path,
                 title: str = "stamp -> /emotion latency") -> Path:
    """Latency over time and its distribution (with p50/p99 marked), as a PNG."""
    plt = _pyplot()
    lat = np.asarray(latency_ms, np.float64)
    t = np.asarray(stamps_s, np.float64)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    left.plot(t - (t.min() if t.size else 0.0), lat, ".", markersize=3)
    left.set_xlabel("time since first frame [s]")
    left.set_ylabel("latency [ms]")
    left.set_title(title)
    if lat.size:
        right.hist(lat, bins=min(50, max(5, lat.size // 5)), color="tab:blue", alpha=0.8)
        s = latency_summary(lat)
        for key, style in (("p50", "--"), ("p99", ":")):
            right.axvline(s[key], color="black", linestyle=style, label=f"{key} {s[key]:.1f} ms")
        right.legend(fontsize=8)
    right.set_xlabel("latency [ms]")
    right.set_ylabel("frames")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

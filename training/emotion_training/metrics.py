"""Clip-level metrics of the emotion-recognition literature, and their plots.

UAR (unweighted average recall = macro recall) is the model-selection metric: RAVDESS is
nearly balanced but CREMA-D and users' recordings are not, and accuracy rewards predicting
the majority class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], num_classes: int) -> np.ndarray:
    """Rows: true class, columns: predicted class."""
    cm = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(cm, (np.asarray(y_true, int), np.asarray(y_pred, int)), 1)
    return cm


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.zeros_like(a, dtype=np.float64), where=b > 0)


def classification_metrics(y_true: Sequence[int], y_pred: Sequence[int],
                           labels: Sequence[str]) -> dict[str, Any]:
    """Accuracy, UAR, macro and weighted F1, per-class recall/precision/F1, confusion matrix.

    Classes absent from ``y_true`` are left out of the macro averages (their recall is
    undefined), so a small test fold without one class is not scored as recall 0 there.
    """
    n = len(labels)
    cm = confusion_matrix(y_true, y_pred, n)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    tp = np.diag(cm).astype(np.float64)
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


def plot_confusion(cm: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   title: str = "") -> Path:
    """Row-normalised confusion matrix with counts, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cm = np.asarray(cm)
    norm = _safe_div(cm.astype(np.float64), cm.sum(axis=1, keepdims=True).astype(np.float64))
    size = 1.0 + 0.6 * len(labels)
    fig, ax = plt.subplots(figsize=(size + 1.5, size))
    im = ax.imshow(norm, cmap="Blues", vmin=0.0, vmax=1.0)
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if norm[i, j] > 0.5 else "black", fontsize=8)
    fig.colorbar(im, ax=ax, fraction=0.046, label="recall")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_curves(history: Sequence[Mapping[str, float]], path: str | Path) -> Path:
    """Loss and accuracy/UAR per epoch, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for key in ("train_loss", "val_loss"):
        if any(key in h for h in history):
            left.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    left.set_xlabel("epoch")
    left.set_title("loss")
    left.legend()
    for key in ("train_acc", "val_acc", "val_uar"):
        if any(key in h for h in history):
            right.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key)
    right.set_xlabel("epoch")
    right.set_ylim(0, 1)
    right.set_title("accuracy / UAR")
    right.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path

"""Training curves; the classification metrics and the confusion plot live in
``emotion_core.metrics`` so that training and the robot's bag-replay evaluation compute the
same numbers the same way."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from emotion_core.metrics import classification_metrics, plot_confusion, score_with_missing

__all__ = ["classification_metrics", "plot_confusion", "plot_curves", "score_with_missing"]


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

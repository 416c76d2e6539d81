"""Dataset file parsers (RAVDESS, CREMA-D, a CSV manifest) and clip media reading.

They live in the core because two consumers need the same answer for a file name: training
(``emotion_training.datasets`` re-exports these) and the recorded-data tools that turn a
dataset into labelled bags for the robot graph (``emotion_recorded.dataset_bags``). Labels are
mapped to a named label set explicitly (``emotion_core.labels``); nothing here imports torch.
"""
from __future__ import annotations

from ..labels import LABEL_SETS
from .cremad import scan_cremad
from .manifest import read_manifest
from .ravdess import scan_ravdess
from .records import ClipRecord, DatasetError, ScanReport

__all__ = ["ClipRecord", "DatasetError", "ScanReport", "label_names", "read_manifest", "scan_cremad",
           "scan_ravdess"]


def label_names(name: str) -> tuple[str, ...]:
    """A label set by name (``emotion_core.labels.LABEL_SETS``)."""
    if name not in LABEL_SETS:
        raise DatasetError(f"unknown label set {name!r}; available: {sorted(LABEL_SETS)}")
    return LABEL_SETS[name]

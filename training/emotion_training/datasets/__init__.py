"""Dataset parsers (RAVDESS, CREMA-D, CSV manifest; from ``emotion_core.datasets``) and
speaker-independent splits."""
from __future__ import annotations

from pathlib import Path

from emotion_core.datasets import label_names

from .cremad import scan_cremad
from .manifest import read_manifest
from .ravdess import scan_ravdess
from .records import ClipRecord, DatasetError, ScanReport
from .splits import Split, kfold_split, make_split, speakers_of

__all__ = ["ClipRecord", "DatasetError", "ScanReport", "Split", "kfold_split", "label_names", "make_split",
           "read_manifest", "scan_cremad", "scan_ravdess", "scan_records", "speakers_of"]


def scan_records(data_cfg, report: ScanReport | None = None) -> list[ClipRecord]:
    """Records of the dataset a ``DataConfig`` names, mapped to its label set; ``report``
    receives what was found, used and skipped (and why)."""
    labels = label_names(data_cfg.label_set)
    if data_cfg.dataset == "ravdess":
        return scan_ravdess(data_cfg.root, labels, data_cfg.ravdess_channel, report)
    if data_cfg.dataset == "cremad":
        return scan_cremad(data_cfg.root, labels, report)
    if data_cfg.dataset == "manifest":
        manifest = data_cfg.manifest or str(Path(data_cfg.root) / "manifest.csv")
        records = read_manifest(manifest, labels)
        if report is not None:  # rows outside the label set are logged by read_manifest
            report.root, report.files = manifest, len(records)
            report.takes = report.used = len(records)
        return records
    raise DatasetError(f"unknown dataset {data_cfg.dataset!r}")

"""Fixtures of the bag tests: the sample model, a generated labelled clip set converted to bags,
and evaluation settings that keep the graph deterministic and quick on a CI machine."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for sub in ("test/ros", "training"):  # rosutil; the synthetic dataset generator (training)
    if str(ROOT / sub) not in sys.path:
        sys.path.append(str(ROOT / sub))


@pytest.fixture(scope="session")
def model(tmp_path_factory) -> Path:
    from emotion_core.tools.sample_model import write_sample_model

    return write_sample_model(tmp_path_factory.mktemp("model") / "sample_fusion.onnx")


@pytest.fixture(scope="session")
def clip_bags(tmp_path_factory) -> Path:
    """Eight 1.2 s clips (4 emotions x 2 actors) in the RAVDESS layout -> one bag per clip."""
    synthetic = pytest.importorskip("emotion_training.synthetic")
    from emotion_recorded.dataset_bags import ConvertOptions, convert_records, scan_dataset

    root = synthetic.make_ravdess(tmp_path_factory.mktemp("ravdess"), actors=(1, 2),
                                  emotions=(1, 3, 4, 5), statements=(1,), seconds=1.2)
    out = tmp_path_factory.mktemp("bags") / "ravdess"
    rows = convert_records(scan_dataset("ravdess", root, None, None), out, ConvertOptions())
    assert len(rows) == 8
    return out

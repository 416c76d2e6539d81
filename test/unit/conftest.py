"""Shared fixtures of the emotion_core unit tests: a generated sample model and a real face.

Everything is built under pytest's tmp dirs (data/ is not in git), once per session because
writing and loading the ONNX model is the slowest step of this suite.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(scope="session")
def sample_model_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from emotion_core.sample_model import write_sample_model

    return write_sample_model(tmp_path_factory.mktemp("model") / "sample_fusion.onnx")


@pytest.fixture(scope="session")
def sample_model(sample_model_path: Path):
    """``(backend, contract)`` of the sample fusion model on ONNX Runtime CPU."""
    from emotion_core.backends import load_model

    return load_model(sample_model_path, backend="onnxruntime", intra_op_threads=1)


@pytest.fixture(scope="session")
def astronaut_bgr() -> np.ndarray:
    """scikit-image's public-domain astronaut portrait (one frontal face), BGR uint8."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[:, :, ::-1])


@pytest.fixture(scope="session")
def haar():
    from emotion_core.face import HaarFaceDetector

    return HaarFaceDetector()

"""Fixtures of the deployment tests: the generated RAVDESS of the training tests (reused from
test/training/conftest.py), one training run on it, and that run deployed (ONNX + int8; engines
only where TensorRT and a GPU exist), shared by every test so the folder stays within a few CPU
minutes."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="deployment tests need requirements/training.txt")
TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:  # test/training is the package `training` (it has __init__.py)
    sys.path.insert(0, str(TESTS))

from training.conftest import ravdess_root, tiny_config  # noqa: E402,F401  (fixture + helper)


@pytest.fixture(scope="session")
def trained_run(ravdess_root, tmp_path_factory) -> Path:
    """best.pt of the tiny config's run (prepare included): the same 8 epochs that
    test/training shows to learn the generated classes (shorter schedules do not, reliably)."""
    from emotion_training.train import train

    out = tmp_path_factory.mktemp("run")
    return train(tiny_config(ravdess_root, out), show_progress=False) / "best.pt"


@pytest.fixture(scope="session")
def deployed(trained_run) -> dict:
    """The one-command deployment of the run: export + parity, int8 + report, engines if possible."""
    from emotion_training.deploy import deploy

    return deploy(trained_run, show_progress=False)

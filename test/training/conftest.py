"""Fixtures of the training-workspace tests: generated RAVDESS / CREMA-D folders and one small
trained run shared by the evaluation, export and resume tests (CPU, tiny models)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="training tests need requirements/training.txt")

ROOT = Path(__file__).resolve().parents[2]
for sub in ("training", "src/emotion_core"):  # when the packages are not installed
    if str(ROOT / sub) not in sys.path:
        sys.path.append(str(ROOT / sub))
os.environ.setdefault("EMOTION_NO_PROGRESS", "1")

TINY_CONFIG = ROOT / "training" / "configs" / "synthetic_tiny.yaml"


@pytest.fixture(scope="session")
def ravdess_root(tmp_path_factory) -> Path:
    from emotion_training.synthetic import make_ravdess

    return make_ravdess(tmp_path_factory.mktemp("ravdess"), actors=range(1, 7),
                        emotions=(1, 3, 4, 5), statements=(1, 2))


@pytest.fixture(scope="session")
def cremad_root(tmp_path_factory) -> Path:
    from emotion_training.synthetic import make_cremad

    return make_cremad(tmp_path_factory.mktemp("cremad"), actors=range(1001, 1004),
                       emotions=("ANG", "HAP", "SAD"), sentences=("DFA",))


def tiny_config(root: Path, output: Path, *overrides: str):
    from emotion_training.config import load_config

    return load_config(TINY_CONFIG, overrides, {"data": {"root": str(root)},
                                                "train": {"output": str(output)}})


@pytest.fixture(scope="session")
def chain_run(ravdess_root, tmp_path_factory) -> tuple[Path, dict]:
    """prepare -> train -> evaluate -> export -> ONNX evaluation, once for the session."""
    from emotion_training.chain import chain

    out = tmp_path_factory.mktemp("run")
    summary = chain(tiny_config(ravdess_root, out), show_progress=False)
    return out, summary

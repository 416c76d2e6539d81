"""The torch-free ONNX builder: graphs, contract, detector metadata, idempotent setup step."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from emotion_core.backends import load_model
from emotion_core.contract import read_contract
from emotion_training.face_api.build import STAMP, build
from emotion_training.face_api.manifest import ManifestError
from emotion_training.face_api.onnx_build import same_pads

from .conftest import ROOT


def test_same_padding_puts_the_odd_pixel_last() -> None:
    assert same_pads(112, 3, 2) == (0, 1)
    assert same_pads(7, 3, 2) == (1, 1)
    assert same_pads(56, 3, 1) == (1, 1)


def test_expression_model_contract(models: dict[str, Path]) -> None:
    contract = read_contract(models["expression"])
    assert contract.labels == ("neutral", "happy", "sad", "angry", "fear", "disgust", "surprise")
    assert contract.modalities == ("face",)
    assert contract.inputs == {"face": "face"} and contract.outputs == {"logits": "logits"}
    face = contract.face
    assert face is not None
    assert (face.size, face.channel_order, face.pad_square) == (112, "RGB", True)
    assert face.mean == (122.782, 117.001, 104.298) and face.std == (255.0, 255.0, 255.0)
    assert contract.name == "face-api-expression" and contract.model_version == "1.7.15"
    assert "MIT" in contract.provenance["license"]
    assert "@vladmandic/face-api@1.7.15" in contract.provenance["source"]


def test_expression_model_runs_batches(models: dict[str, Path]) -> None:
    backend, contract = load_model(models["expression"], intra_op_threads=1)
    x = np.random.default_rng(0).normal(0, 0.3, (3, 3, 112, 112)).astype(np.float32)
    logits = backend.run({"face": x})["logits"]
    assert logits.shape == (3, len(contract.labels)) and np.isfinite(logits).all()


def test_detector_model_metadata_and_grid(models: dict[str, Path]) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(models["detector"]), providers=["CPUExecutionProvider"])
    meta = json.loads(session.get_modelmeta().custom_metadata_map["face_detector"])
    assert meta["input_size"] % meta["stride"] == 0 and len(meta["anchors"]) == 5
    assert "MIT" in meta["license"]
    for size in (224, 416):
        grid = session.run(None, {"image": np.zeros((1, 3, size, size), np.float32)})[0]
        assert grid.shape == (1, 25, size // 32, size // 32)


def test_build_is_idempotent_and_fast(npm_cache: Path, tmp_path: Path) -> None:
    paths = build(npm_cache, tmp_path)
    mtimes = {k: p.stat().st_mtime_ns for k, p in paths.items()}
    t0 = time.perf_counter()
    build(npm_cache, tmp_path)
    assert time.perf_counter() - t0 < 2.0
    assert {k: p.stat().st_mtime_ns for k, p in paths.items()} == mtimes
    # A stale stamp (another builder version) triggers a rebuild.
    (tmp_path / STAMP).write_text("{}")
    build(npm_cache, tmp_path)
    assert paths["expression"].stat().st_mtime_ns != mtimes["expression"]


def test_build_without_cache_says_how_to_fetch(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="fetch_face_api.sh"):
        build(tmp_path / "empty", tmp_path / "out")


def test_build_cli_needs_no_torch(npm_cache: Path, tmp_path: Path) -> None:
    """The setup builds the default model in an environment without torch."""
    code = ("import sys; sys.modules['torch'] = None\n"  # any 'import torch' now raises
            "from emotion_training.face_api.build import main\n"
            f"sys.exit(main(['--cache', {str(npm_cache)!r}, '--out', {str(tmp_path)!r}]))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "training"), str(ROOT / "src" / "emotion_core")]))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name in ("face_expression.onnx", "face_detector_tiny.onnx", "face_detector_ssd.onnx",
                 "face_landmarks_68.onnx", "face_landmarks_68_tiny.onnx", "face_descriptor.onnx"):
        assert (tmp_path / name).is_file(), name


def test_people_models_metadata_and_shapes(models: dict[str, Path]) -> None:
    """Landmark and descriptor nets take a dynamic batch and say how to feed them."""
    import onnxruntime as ort

    for key, size, out_dim, meta_key in (("landmarks", 112, 136, "face_landmarks"),
                                         ("landmarks_tiny", 112, 136, "face_landmarks"),
                                         ("descriptor", 150, 128, "face_descriptor")):
        session = ort.InferenceSession(str(models[key]), providers=["CPUExecutionProvider"])
        meta = json.loads(session.get_modelmeta().custom_metadata_map[meta_key])
        assert meta["input_size"] == size and "MIT" in meta["license"] and "1.7.15" in meta["source"]
        for n in (1, 3):
            out = session.run(None, {"face": np.full((n, 3, size, size), 128, np.float32)})[0]
            assert out.shape == (n, out_dim) and np.isfinite(out).all()
    ssd = ort.InferenceSession(str(models["ssd"]), providers=["CPUExecutionProvider"])
    meta = json.loads(ssd.get_modelmeta().custom_metadata_map["face_detector"])
    assert meta["kind"] == "ssd_mobilenetv1" and meta["input_size"] == 512 and meta["iou_threshold"] == 0.5


def test_runtime_detector_imports_neither_torch_nor_rclpy() -> None:
    code = ("import sys, emotion_core.face_onnx, emotion_core.face, emotion_core.face_ssd\n"
            "import emotion_core.face_landmarks, emotion_core.face_descriptor\n"
            "bad = [m for m in ('torch', 'rclpy', 'emotion_training') if m in sys.modules]\n"
            "sys.exit(f'imported {bad}' if bad else 0)\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src" / "emotion_core"))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr

"""Our ONNX (and PyTorch) face-api networks against the original JS library's recorded outputs.

The fixture (test/fixtures/face_api) was recorded with face-api 1.7.15 on tfjs 4.22 (CPU backend):
regenerate it with ``python -m emotion_training.face_api.reference``.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.backends import load_model
from emotion_core.face_onnx import TinyFaceDetector
from emotion_core.recognizer import softmax
from emotion_training.face_api.demo import iou
from emotion_training.face_api.nets import EXPRESSION_MEAN_RGB
from emotion_training.face_api.reference import expression_inputs, load_reference

from .conftest import FIXTURE_DIR

LOGIT_TOL = 1e-4
PROB_TOL = 1e-5


@pytest.fixture(scope="module")
def reference() -> dict:
    return load_reference(FIXTURE_DIR)


@pytest.fixture(scope="module")
def inputs() -> np.ndarray:
    """The fixture's inputs as the contract normalises them: ``(N, 3, 112, 112)``."""
    _, rgb = expression_inputs(FIXTURE_DIR)
    x = (rgb.astype(np.float32) - np.asarray(EXPRESSION_MEAN_RGB, np.float32)) / np.float32(255.0)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def check_against_reference(logits: np.ndarray, reference: dict) -> None:
    ref_logits = np.asarray(reference["expression"]["logits"])
    ref_probs = np.asarray(reference["expression"]["probabilities"])
    assert logits.shape == ref_logits.shape
    assert np.abs(logits - ref_logits).max() < LOGIT_TOL
    assert np.abs(softmax(logits.astype(np.float64)) - ref_probs).max() < PROB_TOL
    np.testing.assert_array_equal(logits.argmax(1), ref_logits.argmax(1))


def test_fixture_is_what_it_claims(reference: dict) -> None:
    names, rgb = expression_inputs(FIXTURE_DIR)
    assert reference["inputs"] == names and len(names) == 25  # 4 synthetic + 21 demo faces
    assert reference["versions"]["face-api"] == "1.7.15"
    # Small enough to commit: the landmark, descriptor and SSD sections are rounded.
    assert sum(p.stat().st_size for p in FIXTURE_DIR.iterdir()) < 400_000


def test_onnx_matches_face_api(models: dict[str, Path], inputs: np.ndarray, reference: dict) -> None:
    backend, _ = load_model(models["expression"], intra_op_threads=1)
    check_against_reference(backend.run({"face": inputs})["logits"], reference)


def test_torch_matches_face_api_and_onnx(npm_cache: Path, models: dict[str, Path], inputs: np.ndarray,
                                         reference: dict) -> None:
    torch = pytest.importorskip("torch", reason="torch is a training dependency")
    from emotion_training.face_api.torch_model import FaceExpressionBackbone, load_face_api_weights

    model = load_face_api_weights(npm_cache)
    with torch.inference_mode():
        logits = model(torch.from_numpy(inputs)).numpy()
        features = FaceExpressionBackbone.from_face_api(npm_cache)(torch.from_numpy(inputs[:2]))
    check_against_reference(logits, reference)
    assert tuple(features.shape) == (2, 256, 7, 7)
    backend, _ = load_model(models["expression"], intra_op_threads=1)
    assert np.abs(backend.run({"face": inputs})["logits"] - logits).max() < 1e-4


def test_detector_matches_face_api(models: dict[str, Path], demo: tuple[list[Path], dict],
                                   reference: dict) -> None:
    """Same boxes (to ~1% of a face) and scores at every recorded input size. Our resize is
    OpenCV's, not tfjs's, so a box whose score sits at the threshold may come and go."""
    photos, _ = demo
    threshold = reference["detector"]["score_threshold"]
    recorded = reference["detector"]["photos"]
    for size in (224, 320, 416, 512, 608):
        detector = TinyFaceDetector(models["detector"], input_size=size, score_threshold=threshold,
                                    intra_op_threads=1)
        for photo in photos:
            boxes, scores = detector.detect_raw(cv2.imread(str(photo)))
            ours = [((x0, y0, x1 - x0, y1 - y0), s) for (x0, y0, x1, y1), s in zip(boxes, scores)]
            ref = recorded[photo.name][str(size)]
            theirs = [((x0, y0, x1 - x0, y1 - y0), s) for (x0, y0, x1, y1), s in zip(ref["boxes"], ref["scores"])]
            for want, others in ((theirs, ours), (ours, theirs)):
                for box, score in want:
                    close = [s for b, s in others if iou(box, b) > 0.97]
                    if abs(score - threshold) < 0.03 and not close:
                        continue
                    assert close, f"{photo.name}@{size}: no match for {box} ({score:.3f})"
                    assert abs(close[0] - score) < 0.02, f"{photo.name}@{size}: score {score} vs {close[0]}"

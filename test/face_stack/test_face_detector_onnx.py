"""The runtime face detector (face-api's tiny detector in ONNX Runtime) and its registration."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from emotion_core.face import HaarFaceDetector, create_detector
from emotion_core.face_onnx import TinyFaceDetector, decode_grid, letterbox, nms
from emotion_training.face_api.demo import demo_recall, match


def boxes_of(detector):
    return lambda img: [(b.x, b.y, b.w, b.h) for b in detector.detect(img)]


def test_recall_on_the_21_demo_faces(tiny: TinyFaceDetector, demo: tuple[list[Path], dict]) -> None:
    photos, truth = demo
    full = demo_recall(boxes_of(tiny), photos, truth)
    camera = demo_recall(boxes_of(tiny), photos, truth, resize_to=(640, 480))
    assert full.faces == 21
    assert full.hits >= 20 and full.false_positives <= 1, str(full)
    assert camera.hits >= 19 and camera.false_positives <= 1, str(camera)


def test_boxes_are_sorted_clipped_and_scored(tiny: TinyFaceDetector, demo: tuple[list[Path], dict]) -> None:
    import cv2

    image = cv2.imread(str(demo[0][4]))  # sample5: five faces, one near the bottom edge
    faces = tiny.detect(image)
    assert len(faces) == 5
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    h, w = image.shape[:2]
    for f in faces:
        assert 0 <= f.x and 0 <= f.y and f.x + f.w <= w and f.y + f.h <= h
        assert tiny.score_threshold < f.score <= 1.0


def test_no_face_and_grey_input(tiny: TinyFaceDetector) -> None:
    assert tiny.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert tiny.detect(np.full((240, 320), 128, np.uint8)) == []


def test_letterbox_pads_bottom_right() -> None:
    image = np.full((100, 200, 3), 255, np.uint8)
    x = letterbox(image, 64)
    assert x.shape == (1, 3, 64, 64) and x.dtype == np.float32
    assert x[0, :, :31, :].min() == 255.0  # image rows on top
    assert x[0, :, 33:, :].max() == 0.0  # black padding below


def test_decode_one_cell() -> None:
    anchors = np.array([[1.0, 2.0]])
    grid = np.full((5, 4, 4), -10.0)
    grid[:, 1, 2] = [0.0, 0.0, 0.0, 0.0, 10.0]  # row 1, col 2: centre of the cell, anchor size
    boxes, scores = decode_grid(grid, anchors, (128, 128), 128, 0.5)
    assert scores.shape == (1,) and scores[0] > 0.99
    # centre (2.5, 1.5) cells of 32 px, size 1 x 2 cells
    np.testing.assert_allclose(boxes[0], [80 - 16, 48 - 32, 80 + 16, 48 + 32])


def test_nms_keeps_the_best_of_overlapping_boxes() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], float)
    assert nms(boxes, np.array([0.6, 0.9, 0.7]), 0.4) == [1, 2]
    assert nms(np.zeros((0, 4)), np.zeros(0), 0.4) == []


def test_match_counts_hits_and_false_positives() -> None:
    faces = [(0, 0, 10, 10), (50, 50, 10, 10)]
    ignore = [(100, 100, 10, 10)]
    dets = [(1, 1, 10, 10), (0, 0, 9, 9), (101, 101, 10, 10), (200, 200, 5, 5)]
    assert match(dets, faces, ignore) == (1, 2)  # a duplicate and a stray box; the profile is ignored


def test_create_detector_names(models: dict[str, Path]) -> None:
    assert isinstance(create_detector("tiny", model_path=models["detector"]), TinyFaceDetector)
    assert isinstance(create_detector("auto", model_path=models["detector"]), TinyFaceDetector)
    assert isinstance(create_detector("haar"), HaarFaceDetector)
    with pytest.raises(FileNotFoundError, match="setup.sh"):
        create_detector("tiny", model_path="/nonexistent/face_detector_tiny.onnx")
    with pytest.raises(ValueError, match="available"):
        create_detector("yunet")


def test_auto_falls_back_to_haar_without_the_model(caplog: pytest.LogCaptureFixture) -> None:
    detector = create_detector("auto", model_path="/nonexistent/face_detector_tiny.onnx")
    assert isinstance(detector, HaarFaceDetector)
    assert "Haar" in caplog.text


def test_input_size_is_checked(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="multiple of 32"):
        TinyFaceDetector(models["detector"], input_size=300)


def test_model_without_metadata_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="face_detector"):
        TinyFaceDetector(models["expression"])


def test_corrupt_model_file(tmp_path: Path) -> None:
    bad = tmp_path / "face_detector_tiny.onnx"
    bad.write_bytes(b"not a protobuf at all")
    with pytest.raises(ValueError, match="not a readable ONNX"):
        TinyFaceDetector(bad)


def test_model_found_through_the_models_dir(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    from emotion_core.face_onnx import MODELS_DIR_ENV, default_model_path

    monkeypatch.setenv(MODELS_DIR_ENV, str(models["detector"].parent))
    assert default_model_path() == models["detector"]
    assert TinyFaceDetector().model_path == models["detector"]
    monkeypatch.setenv(MODELS_DIR_ENV, str(tmp_path))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="setup.sh"):
        default_model_path("no_such_model.onnx")

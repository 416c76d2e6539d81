"""The runtime SSD MobileNetV1 face detector and its registration as ``detector: ssd``."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.face import DETECTOR_NAMES, create_detector
from emotion_core.face_onnx import TinyFaceDetector
from emotion_core.face_ssd import SsdFaceDetector
from emotion_training.face_api.demo import demo_recall


def boxes_of(detector):
    return lambda img: [(b.x, b.y, b.w, b.h) for b in detector.detect(img)]


def test_recall_on_the_21_demo_faces(ssd: SsdFaceDetector, demo: tuple[list[Path], dict]) -> None:
    photos, truth = demo
    full = demo_recall(boxes_of(ssd), photos, truth)
    camera = demo_recall(boxes_of(ssd), photos, truth, resize_to=(640, 480))
    assert full.hits >= 20 and full.false_positives <= 1, str(full)
    assert camera.hits >= 19 and camera.false_positives <= 1, str(camera)


def test_boxes_are_sorted_clipped_and_scored(ssd: SsdFaceDetector, demo_faces: list) -> None:
    _, image, _ = demo_faces[4]  # five faces, one near the bottom edge
    faces = ssd.detect(image)
    assert len(faces) == 5
    assert [f.area for f in faces] == sorted((f.area for f in faces), reverse=True)
    h, w = image.shape[:2]
    for f in faces:
        assert 0 <= f.x and 0 <= f.y and f.x + f.w <= w and f.y + f.h <= h
        assert ssd.score_threshold < f.score <= 1.0


def test_no_face_grey_and_thresholds(ssd: SsdFaceDetector, models: dict[str, Path], demo_faces: list) -> None:
    assert ssd.detect(np.zeros((480, 640, 3), np.uint8)) == []
    assert ssd.detect(np.full((240, 320), 128, np.uint8)) == []
    image = demo_faces[3][1]
    strict = SsdFaceDetector(models["ssd"], score_threshold=0.99, intra_op_threads=1)
    capped = SsdFaceDetector(models["ssd"], max_results=2, intra_op_threads=1)
    assert len(strict.detect(image)) < len(ssd.detect(image)) and len(capped.detect(image)) == 2
    with pytest.raises(ValueError, match="score_threshold"):
        SsdFaceDetector(models["ssd"], score_threshold=1.5)


def test_create_detector_names(models: dict[str, Path]) -> None:
    assert DETECTOR_NAMES == ("auto", "tiny", "ssd", "haar")
    assert isinstance(create_detector("ssd", model_path=models["ssd"]), SsdFaceDetector)
    assert isinstance(create_detector("auto", model_path=models["detector"]), TinyFaceDetector)
    with pytest.raises(FileNotFoundError, match="setup.sh"):
        create_detector("ssd", model_path="/nonexistent/face_detector_ssd.onnx")
    with pytest.raises(ValueError, match=r"available: \['auto', 'tiny', 'ssd', 'haar'\]"):
        create_detector("yunet")


def test_each_detector_refuses_the_others_model(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="ssd_mobilenetv1"):
        SsdFaceDetector(models["detector"])
    with pytest.raises(ValueError, match="tiny_yolov2"):
        TinyFaceDetector(models["ssd"])


def test_model_outputs(models: dict[str, Path]) -> None:
    import onnxruntime as ort

    session = ort.InferenceSession(str(models["ssd"]), providers=["CPUExecutionProvider"])
    boxes, scores = session.run(None, {"image": np.zeros((2, 3, 512, 512), np.float32)})
    assert boxes.shape == (2, 5118, 4) and scores.shape == (2, 5118)
    assert ((scores >= 0) & (scores <= 1)).all()
    assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()


def test_camera_frame_faces(ssd: SsdFaceDetector, demo_faces: list) -> None:
    _, image, boxes = demo_faces[0]
    frame = cv2.resize(image, (640, 480), interpolation=cv2.INTER_AREA)
    assert len(ssd.detect(frame)) == len(boxes)

"""The runtime face descriptor (face-api's recognition net in ONNX Runtime)."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.face import FaceBox
from emotion_core.face_descriptor import (FACE_API_SAME_PERSON_DISTANCE, SAME_PERSON_DISTANCE, FaceDescriptor,
                                          distance, distance_matrix, l2_normalise, same_person)
from emotion_core.face_landmarks import FaceLandmarker


@pytest.fixture(scope="module")
def demo_descriptors(landmarker: FaceLandmarker, descriptor: FaceDescriptor, demo_faces: list) -> np.ndarray:
    """``(21, 128)`` descriptors of the demo faces, cropped from their landmarks as face-api does."""
    rows = [descriptor.embed(image, boxes, landmarker.landmarks(image, boxes)) for _, image, boxes in demo_faces]
    return np.concatenate(rows)


def test_shape_norm_and_raw_norm(descriptor: FaceDescriptor, demo_faces: list, demo_descriptors: np.ndarray) -> None:
    assert demo_descriptors.shape == (21, 128) and demo_descriptors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(demo_descriptors, axis=1), 1.0, atol=1e-5)
    _, image, boxes = demo_faces[0]
    raw = descriptor.embed(image, boxes, normalise=False)
    norms = np.linalg.norm(raw, axis=1)
    assert ((norms > 1.3) & (norms < 1.65)).all(), norms  # why SAME_PERSON_DISTANCE is 0.4, not 0.6
    np.testing.assert_allclose(l2_normalise(raw), descriptor.embed(image, boxes), atol=1e-6)


def test_batch_equals_single_calls(descriptor: FaceDescriptor, demo_faces: list) -> None:
    _, image, boxes = demo_faces[4]
    batch = descriptor.embed(image, boxes)
    single = np.concatenate([descriptor.embed(image, [b]) for b in boxes])
    np.testing.assert_allclose(batch, single, atol=1e-5)


def altered(image: np.ndarray, boxes: list[FaceBox], how: str) -> tuple[np.ndarray, list[FaceBox]]:
    """The same photo as a camera might see it again: smaller, darker, re-compressed, mirrored."""
    if how == "camera":
        s = 640 / image.shape[1]
        small = cv2.resize(image, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        return small, [FaceBox(round(b.x * s), round(b.y * s), round(b.w * s), round(b.h * s)) for b in boxes]
    if how == "dark":
        return cv2.convertScaleAbs(image, alpha=0.6, beta=10), boxes
    if how == "jpeg":
        ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])
        return cv2.imdecode(buf, cv2.IMREAD_COLOR), boxes
    if how == "mirror":
        w = image.shape[1]
        return image[:, ::-1].copy(), [FaceBox(w - b.x - b.w, b.y, b.w, b.h) for b in boxes]
    raise ValueError(how)


def test_same_face_close_different_faces_far(landmarker: FaceLandmarker, descriptor: FaceDescriptor,
                                             demo_faces: list, demo_descriptors: np.ndarray) -> None:
    """Each demo face seen again (camera size, darker, JPEG q30, mirrored) stays inside the
    same-person distance; the 21 different people mostly fall outside it - with normalised
    descriptors and 0.4 as with face-api's raw descriptors and 0.6."""
    same, same_raw = [], []
    raw_base = np.concatenate([descriptor.embed(image, boxes, landmarker.landmarks(image, boxes), normalise=False)
                               for _, image, boxes in demo_faces])
    for how in ("camera", "dark", "jpeg", "mirror"):
        again, again_raw = [], []
        for _, image, boxes in demo_faces:
            img2, boxes2 = altered(image, boxes, how)
            pts = landmarker.landmarks(img2, boxes2)
            again.append(descriptor.embed(img2, boxes2, pts))
            again_raw.append(descriptor.embed(img2, boxes2, pts, normalise=False))
        same.append(distance(np.concatenate(again), demo_descriptors))
        same_raw.append(distance(np.concatenate(again_raw), raw_base))
    same, same_raw = np.stack(same), np.stack(same_raw)
    assert same.max() < SAME_PERSON_DISTANCE, same.max(axis=1)
    assert same_raw.max() < FACE_API_SAME_PERSON_DISTANCE, same_raw.max(axis=1)
    upper = np.triu_indices(21, k=1)
    pairs = distance_matrix(demo_descriptors, demo_descriptors)[upper]
    pairs_raw = distance_matrix(raw_base, raw_base)[upper]
    assert np.mean(pairs > SAME_PERSON_DISTANCE) > 0.9, np.sort(pairs)[:10]
    assert np.mean(pairs_raw > FACE_API_SAME_PERSON_DISTANCE) > 0.9, np.sort(pairs_raw)[:10]
    assert np.median(pairs) > 4 * np.median(same)
    assert not same_person(demo_descriptors[0], demo_descriptors[1])


def test_detector_boxes_without_landmarks_still_match(descriptor: FaceDescriptor, demo_faces: list,
                                                      demo_descriptors: np.ndarray) -> None:
    """Without landmarks the detector box is read as it is: same people, somewhat noisier."""
    plain = np.concatenate([descriptor.embed(image, boxes) for _, image, boxes in demo_faces])
    assert (distance(plain, demo_descriptors) < SAME_PERSON_DISTANCE).mean() > 0.9


def test_empty_and_outside_boxes(descriptor: FaceDescriptor, demo_faces: list) -> None:
    _, image, boxes = demo_faces[0]
    assert descriptor.embed(image, []).shape == (0, 128)
    out = descriptor.embed(image, [FaceBox(-900, -900, 50, 50), boxes[0]])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    with pytest.raises(ValueError, match="landmark sets"):
        descriptor.embed(image, boxes, landmarks=np.zeros((1, 68, 2)))


def test_distance_helpers() -> None:
    a, b = np.zeros(128), np.zeros(128)
    b[0] = 0.5
    assert distance(a, b) == pytest.approx(0.5) and not same_person(a, b)
    assert same_person(a, b, FACE_API_SAME_PERSON_DISTANCE)
    m = distance_matrix(np.stack([a, b]), np.stack([a, b, b]))
    np.testing.assert_allclose(m, [[0, 0.5, 0.5], [0.5, 0, 0]])
    np.testing.assert_array_equal(l2_normalise(np.zeros((1, 4))), np.zeros((1, 4)))


def test_wrong_file_is_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="face_descriptor"):
        FaceDescriptor(models["landmarks"])

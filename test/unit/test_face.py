"""Face detection on a real photo and the face-crop preprocessing the model contract describes."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from emotion_core.contract import FaceSpec
from emotion_core.face import (FaceBox, HaarFaceDetector, create_detector, crop_square,
                               face_tensor, normalize_crop, square_box)

# Landmarks of the astronaut portrait (512 x 512), read by hand off a 3x zoom with a 10 px grid.
LEFT_EYE, RIGHT_EYE, MOUTH = (203, 101), (247, 103), (225, 146)
#: Hand-drawn face box: cheek to cheek x 182..270, hairline to chin y 80..173.
FACE = FaceBox(182, 80, 88, 93)


def iou(a: FaceBox, b: FaceBox) -> float:
    ix = max(0, min(a.x + a.w, b.x + b.w) - max(a.x, b.x))
    iy = max(0, min(a.y + a.h, b.y + b.h) - max(a.y, b.y))
    inter = ix * iy
    return inter / (a.area + b.area - inter)


def contains(box: FaceBox, point) -> bool:
    return box.x <= point[0] < box.x + box.w and box.y <= point[1] < box.y + box.h


# -- detection ---------------------------------------------------------------------------------------
def test_haar_finds_the_astronaut_face(haar, astronaut_bgr):
    boxes = haar.detect(astronaut_bgr)
    assert boxes, "no face found in the astronaut portrait"
    face = boxes[0]
    for point in (LEFT_EYE, RIGHT_EYE, MOUTH):
        assert contains(face, point), (face, point)
    assert iou(face, FACE) > 0.5
    assert face.score > 0


def test_detection_follows_a_mirrored_image(haar, astronaut_bgr):
    face = haar.detect(astronaut_bgr)[0]
    mirrored = haar.detect(np.ascontiguousarray(astronaut_bgr[:, ::-1]))[0]
    expected = FaceBox(512 - face.x - face.w, face.y, face.w, face.h)
    assert iou(mirrored, expected) > 0.8


def test_boxes_are_in_source_pixels_after_downscaling(astronaut_bgr):
    # A 2x upscaled photo is detected on the same 480 px working image: the box must scale by 2.
    detector = HaarFaceDetector(max_side=480)
    small = detector.detect(astronaut_bgr)[0]
    big = detector.detect(cv2.resize(astronaut_bgr, (1024, 1024), interpolation=cv2.INTER_CUBIC))[0]
    doubled = FaceBox(2 * small.x, 2 * small.y, 2 * small.w, 2 * small.h)
    assert iou(big, doubled) > 0.8
    assert contains(big, (2 * MOUTH[0], 2 * MOUTH[1]))


def test_grey_input_is_accepted(haar, astronaut_bgr):
    grey = cv2.cvtColor(astronaut_bgr, cv2.COLOR_BGR2GRAY)
    boxes = haar.detect(grey)
    assert boxes and iou(boxes[0], FACE) > 0.5


def test_two_faces_come_largest_first(astronaut_bgr):
    canvas = np.full((520, 800, 3), 128, np.uint8)
    canvas[:512, :512] = astronaut_bgr
    canvas[100:356, 530:786] = cv2.resize(astronaut_bgr, (256, 256), interpolation=cv2.INTER_AREA)
    detector = HaarFaceDetector(max_side=800, min_size_frac=0.05)
    boxes = detector.detect(canvas)
    assert len(boxes) >= 2
    assert boxes[0].area >= boxes[1].area
    assert contains(boxes[0], MOUTH)
    # The half-size copy: its mouth sits at 530 + x/2, 100 + y/2.
    assert contains(boxes[1], (530 + MOUTH[0] // 2, 100 + MOUTH[1] // 2))


@pytest.mark.parametrize("image", [np.zeros((240, 320, 3), np.uint8), np.full((240, 320, 3), 200, np.uint8)])
def test_no_face_in_a_blank_frame(haar, image):
    assert haar.detect(image) == []


def test_missing_cascade_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot load Haar cascade"):
        HaarFaceDetector(cascade=tmp_path / "none.xml")


def test_create_detector_by_name():
    assert isinstance(create_detector("haar"), HaarFaceDetector)
    with pytest.raises(ValueError, match=r"unknown face detector 'yolo'; available: \[.*'haar'"):
        create_detector("yolo")


# -- square crops ----------------------------------------------------------------------------------
def coordinate_image(h: int = 200, w: int = 220) -> np.ndarray:
    """Pixel (y, x) holds (y, x, 7): any offset in a crop is visible."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([y, x, np.full_like(y, 7)], axis=2).astype(np.uint8)


def test_square_box_is_centred_on_the_longer_side():
    # 40 x 20 box at (50, 60): centre (70, 70), side 40 -> (50, 50, 40).
    assert square_box(FaceBox(50, 60, 40, 20)) == (50, 50, 40)
    # margin 0.5: side 60 around the same centre -> (40, 40, 60).
    assert square_box(FaceBox(50, 60, 40, 20), margin=0.5) == (40, 40, 60)
    assert square_box(FaceBox(5, 5, 0, 0))[2] == 1  # never an empty crop


def test_crop_inside_the_image_is_exact():
    img = coordinate_image()
    crop = crop_square(img, FaceBox(50, 60, 40, 20))
    assert crop.shape == (40, 40, 3)
    np.testing.assert_array_equal(crop[:, :, 0], np.arange(50, 90)[:, None].repeat(40, 1))
    np.testing.assert_array_equal(crop[:, :, 1], np.arange(50, 90)[None, :].repeat(40, 0))


def test_crop_leaving_the_image_is_zero_padded():
    img = coordinate_image()
    # Box (-10, 180, 30, 30): square (-10, 180, 30) leaves the image left by 10 and below by 10.
    crop = crop_square(img, FaceBox(-10, 180, 30, 30), pad=True)
    assert crop.shape == (30, 30, 3)
    assert not crop[:, :10].any() and not crop[20:].any()
    np.testing.assert_array_equal(crop[:20, 10:, 0], np.arange(180, 200)[:, None].repeat(20, 1))
    np.testing.assert_array_equal(crop[:20, 10:, 1], np.arange(0, 20)[None, :].repeat(20, 0))


def test_crop_without_padding_is_shifted_inside():
    img = coordinate_image()
    crop = crop_square(img, FaceBox(-10, 180, 30, 30), pad=False)
    assert crop.shape == (30, 30, 3)
    assert crop[0, 0, 0] == 170 and crop[0, 0, 1] == 0  # moved to x = 0, y = 200 - 30
    # A square larger than the image shrinks to the image's shorter side.
    assert crop_square(img, FaceBox(0, 0, 400, 400), pad=False).shape == (200, 200, 3)


def test_crop_entirely_outside_is_all_zeros():
    crop = crop_square(coordinate_image(), FaceBox(500, 500, 16, 16))
    assert crop.shape == (16, 16, 3) and not crop.any()


# -- normalisation ---------------------------------------------------------------------------------
def test_normalize_crop_follows_the_contract():
    crop = np.empty((90, 90, 3), np.uint8)
    crop[:] = (10, 20, 30)  # B, G, R
    spec = FaceSpec(size=32, mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0), channel_order="RGB")
    x = normalize_crop(crop, spec)
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    # RGB order: channel 0 is red (30).
    np.testing.assert_allclose(x[:, 0, 0], [(30 - 1) / 2, (20 - 2) / 4, (10 - 3) / 8])
    np.testing.assert_allclose(x, x[:, :1, :1].repeat(32, 1).repeat(32, 2))
    bgr = normalize_crop(crop, FaceSpec(size=32, mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0),
                                        channel_order="BGR"))
    np.testing.assert_allclose(bgr[:, 0, 0], [(10 - 1) / 2, (20 - 2) / 4, (30 - 3) / 8])


def test_normalize_crop_resizes_up_and_down_keeping_layout():
    # Left half black, right half white: after resizing, the halves stay where they were.
    for side in (20, 400):
        crop = np.zeros((side, side, 3), np.uint8)
        crop[:, side // 2:] = 255
        x = normalize_crop(crop, FaceSpec(size=64, mean=(0, 0, 0), std=(255, 255, 255)))
        np.testing.assert_allclose(x[:, :, :30], 0.0, atol=1e-6)
        np.testing.assert_allclose(x[:, :, 34:], 1.0, atol=1e-6)


def test_face_tensor_batches_faces():
    img = coordinate_image()
    spec = FaceSpec(size=16, margin=0.0)
    boxes = [FaceBox(10, 10, 16, 16), FaceBox(100, 100, 16, 16)]
    batch = face_tensor(img, boxes, spec)
    assert batch.shape == (2, 3, 16, 16)
    np.testing.assert_allclose(batch[1], normalize_crop(crop_square(img, boxes[1]), spec))
    assert face_tensor(img, [], spec).shape == (0, 3, 16, 16)

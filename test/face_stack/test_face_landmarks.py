"""The runtime landmark net (face-api's 68-point nets in ONNX Runtime) and ``mouth_opening``."""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from emotion_core.face import FaceBox
from emotion_core.face_landmarks import FaceLandmarker, aligned_box, eye_anchored_box, mouth_opening
from emotion_core.face_onnx import face_patch, resize_bilinear_legacy


def open_mouth(image: np.ndarray, pts: np.ndarray, frac: float) -> np.ndarray:
    """The same face with the jaw dropped by ``frac`` x mouth width: everything below the lip
    line moves down (most at the mouth centre, fading to the sides and the chin) and the gap
    between the lips is dark, as in an open mouth."""
    width = np.linalg.norm(pts[54] - pts[48])
    y_line = int(round(pts[[61, 62, 63, 65, 66, 67], 1].mean()))
    x0, x1 = int(pts[48, 0] - 0.35 * width), int(pts[54, 0] + 0.35 * width)
    y_end = int(pts[8, 1] + 0.3 * width)
    xs = np.arange(x0, x1, dtype=np.float32)
    ys = np.arange(y_line, y_end, dtype=np.float32)[:, None]
    across = 0.5 - 0.5 * np.cos(2 * np.pi * (xs - x0) / (x1 - x0))
    down = np.clip((y_end - ys) / (y_end - y_line), 0, 1)
    shift = frac * width * across[None, :] * down
    region = cv2.remap(image, np.tile(xs, (len(ys), 1)), (ys - shift).astype(np.float32), cv2.INTER_LINEAR)
    region[ys < y_line + shift] = (25, 15, 35)
    out = image.copy()
    out[y_line:y_end, x0:x1] = region
    return out


def test_points_fall_inside_their_boxes(landmarker: FaceLandmarker, demo_faces: list) -> None:
    for name, image, boxes in demo_faces:
        pts = landmarker.landmarks(image, boxes)
        assert pts.shape == (len(boxes), 68, 2) and pts.dtype == np.float32
        for box, p in zip(boxes, pts):
            margin = 0.1 * box.w  # the jaw line may reach just past a tight box
            assert (p[:, 0] > box.x - margin).all() and (p[:, 0] < box.x + box.w + margin).all(), name
            assert (p[:, 1] > box.y - margin).all() and (p[:, 1] < box.y + box.h + margin).all(), name
            # anatomy: eyes above the nose tip above the mouth above the chin; right eye on the left
            assert p[36:48, 1].mean() < p[33, 1] < p[48:68, 1].mean() < p[8, 1], name
            assert p[36:42, 0].mean() < p[42:48, 0].mean(), name


def test_batch_equals_single_calls(landmarker: FaceLandmarker, demo_faces: list) -> None:
    _, image, boxes = demo_faces[4]  # five faces
    batch = landmarker.landmarks(image, boxes)
    single = np.concatenate([landmarker.landmarks(image, [b]) for b in boxes])
    np.testing.assert_allclose(batch, single, atol=1e-3)


def test_points_follow_the_face_when_the_image_shrinks(landmarker: FaceLandmarker, demo_faces: list) -> None:
    """Same face at camera resolution: points scale with the image (to ~2 % of the face)."""
    _, image, boxes = demo_faces[0]
    small = cv2.resize(image, (640, 427), interpolation=cv2.INTER_AREA)
    s = 640 / image.shape[1]
    scaled = [FaceBox(round(b.x * s), round(b.y * s), round(b.w * s), round(b.h * s)) for b in boxes]
    big, little = landmarker.landmarks(image, boxes), landmarker.landmarks(small, scaled)
    for b, p, q in zip(scaled, big * s, little):
        assert np.abs(p - q).mean() < 0.02 * b.w


def test_empty_outside_and_grey_inputs(landmarker: FaceLandmarker, demo_faces: list) -> None:
    _, image, boxes = demo_faces[0]
    assert landmarker.landmarks(image, []).shape == (0, 68, 2)
    out = landmarker.landmarks(image, [FaceBox(-500, -500, 100, 100), boxes[0]])
    assert np.isnan(out[0]).all() and np.isfinite(out[1]).all()
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    np.testing.assert_allclose(landmarker.landmarks(grey, boxes[:1]),
                               landmarker.landmarks(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), boxes[:1]))


def test_tiny_variant_agrees_with_the_full_net(landmarker: FaceLandmarker, landmarker_tiny: FaceLandmarker,
                                               demo_faces: list) -> None:
    """Two nets trained apart agree to ~1-2 % of the face (the worst, a turned head, ~4 %)."""
    errors = []
    for _, image, boxes in demo_faces:
        full, tiny = landmarker.landmarks(image, boxes), landmarker_tiny.landmarks(image, boxes)
        errors += [np.linalg.norm(f - t, axis=1).mean() / b.w for b, f, t in zip(boxes, full, tiny)]
    assert np.median(errors) < 0.025 and max(errors) < 0.06, np.round(errors, 3)


def test_wrong_files_are_refused(models: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="face_landmarks"):
        FaceLandmarker(models["descriptor"])
    with pytest.raises(FileNotFoundError, match="setup.sh"):
        FaceLandmarker("/nonexistent/face_landmarks_68.onnx")
    with pytest.raises(ValueError, match="variant"):
        FaceLandmarker(models["landmarks"], variant="huge")


def test_face_patch_geometry() -> None:
    """A tall box is padded left/right with black, centred; its mapping puts the patch back."""
    image = np.full((100, 200, 3), 200, np.uint8)
    patch, (x0, y0, side) = face_patch(image, FaceBox(50, 10, 40, 80), 16)
    assert patch.shape == (16, 16, 3) and side == 80 and (x0, y0) == (30.0, 10.0)
    assert patch[:, :3].max() == 0 and patch[:, -3:].max() == 0 and patch[:, 6:10].min() == 200
    assert face_patch(image, FaceBox(300, 10, 40, 40), 16) is None
    # clipped at the image border, as face-api clips
    _, (x0, y0, side) = face_patch(image, FaceBox(-10, -20, 50, 50), 16)
    assert side == 40 and (x0, y0) == (0.0, -5.0)


def test_legacy_resize_is_tf_resize_bilinear() -> None:
    """src = dst * in / out without half-pixel centres, edge clamped (TF align_corners=False)."""
    image = np.arange(16, dtype=np.float32).reshape(4, 4, 1)
    up = resize_bilinear_legacy(image, 8)[..., 0]
    assert up[0, 0] == 0 and up[0, 1] == 0.5 and up[1, 0] == 2.0 and up[-1, -1] == 15
    down = resize_bilinear_legacy(np.arange(64, dtype=np.float32).reshape(8, 8, 1), 4)[..., 0]
    np.testing.assert_array_equal(down, np.arange(64).reshape(8, 8)[::2, ::2])


def synthetic_mouth(gap: float, width: float = 40.0, angle: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """68 points with only the mouth placed: corners 48/54 ``width`` apart, inner lips ``gap``
    apart, rotated by ``angle`` and scaled by ``scale``."""
    pts = np.zeros((68, 2))
    pts[48], pts[54] = (-width / 2, 0), (width / 2, 0)
    for (up, low), x in zip(((61, 67), (62, 66), (63, 65)), (-8.0, 0.0, 8.0)):
        pts[up], pts[low] = (x, -gap / 2), (x, gap / 2)
    c, s = np.cos(angle), np.sin(angle)
    return scale * pts @ np.array([[c, s], [-s, c]]) + (300, 200)


def test_mouth_opening_is_gap_over_width() -> None:
    assert mouth_opening(synthetic_mouth(0.0)) == 0.0
    assert mouth_opening(synthetic_mouth(10.0)) == pytest.approx(0.25)
    # invariant to face size and head roll
    assert mouth_opening(synthetic_mouth(10.0, angle=0.5, scale=3.0)) == pytest.approx(0.25)
    batch = mouth_opening(np.stack([synthetic_mouth(g) for g in (0.0, 4.0, 20.0)]))
    np.testing.assert_allclose(batch, [0.0, 0.1, 0.5])
    assert np.isnan(mouth_opening(np.zeros((68, 2))))
    with pytest.raises(ValueError, match="68"):
        mouth_opening(np.zeros((5, 2)))


def test_mouth_opening_on_real_faces(landmarker: FaceLandmarker, demo_faces: list) -> None:
    """Real pair: a wide-open laughing mouth (sample5, 4th face) reads far above closed lips
    (sample1, 3rd face). Synthetic: dropping the same face's jaw opens it step by step."""
    open_face = landmarker.landmarks(demo_faces[4][1], demo_faces[4][2][3:4])
    closed = landmarker.landmarks(demo_faces[0][1], demo_faces[0][2][2:3])
    assert mouth_opening(open_face)[0] > 0.25 and mouth_opening(closed)[0] < 0.05
    image, box = demo_faces[0][1], demo_faces[0][2][2]
    pts = closed[0]
    values = [mouth_opening(pts)] + [mouth_opening(landmarker.landmarks(open_mouth(image, pts, f), [box])[0])
                                     for f in (0.1, 0.2, 0.3)]
    assert all(a < b for a, b in zip(values, values[1:])), values
    assert values[-1] - values[0] > 0.08, values


def test_aligned_box_is_face_apis_dlib_alignment() -> None:
    pts = np.zeros((68, 2))
    pts[36:42] = (100, 100)
    pts[42:48] = (140, 100)
    pts[48:68] = (120, 145)
    # eye-to-mouth distance sqrt(20^2 + 45^2) = 49.24 -> side floor(49.24 / 0.45) = 109
    # reference point = mean of the three centres = (120, 115)
    assert aligned_box(pts) == FaceBox(int(np.floor(120 - 54.5)), int(np.floor(115 - 0.43 * 109)), 109, 109)


def test_eye_anchored_box_sits_on_the_eyes() -> None:
    pts = np.zeros((68, 2))
    pts[36:42] = (100, 100)
    pts[42:48] = (140, 100)  # eye centres 40 px apart -> side 120, centre 30 px below them
    pts[48:68] = (120, 170)  # the mouth (and a dropping jaw) does not move the box
    assert eye_anchored_box(pts) == FaceBox(60, 70, 120, 120)
    pts[48:68] = (120, 200)
    assert eye_anchored_box(pts) == FaceBox(60, 70, 120, 120)


def test_eye_anchored_second_pass_steadies_the_mouth_under_box_jitter(landmarker: FaceLandmarker,
                                                                      demo_faces: list) -> None:
    """A tracker's box breathes by a few percent. Read through a box anchored to the eyes the
    first pass found, the mouth opening of the 21 demo faces jitters about half as much (ratio of
    stds: median ~0.5, 0.22-1.1 per face), and an opened jaw still reads open."""
    rng = np.random.default_rng(3)
    ratios = []
    for _, image, boxes in demo_faces:
        for box in boxes:
            jittered = []
            for _ in range(24):
                w = round(box.w * (1.0 + rng.uniform(-0.06, 0.06)))
                jittered.append(FaceBox(round(box.x + box.w / 2 - w / 2 + rng.uniform(-0.04, 0.04) * box.w),
                                        round(box.y + box.h / 2 - w / 2 + rng.uniform(-0.04, 0.04) * box.h), w, w))
            first = landmarker.landmarks(image, jittered)
            second = landmarker.landmarks(image, [eye_anchored_box(p) for p in first])
            ratios.append(np.std(mouth_opening(second)) / np.std(mouth_opening(first)))
    assert len(ratios) == 21
    assert np.median(ratios) < 0.65 and max(ratios) < 1.3, np.round(ratios, 2)
    image, box = demo_faces[0][1], demo_faces[0][2][2]  # closed lips
    closed = landmarker.landmarks(image, [box])[0]
    opened = open_mouth(image, closed, 0.2)
    read = [mouth_opening(landmarker.landmarks(im, [eye_anchored_box(landmarker.landmarks(im, [box])[0])]))[0]
            for im in (image, opened)]
    assert read[1] - read[0] > 0.05, read

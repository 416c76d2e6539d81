"""68 face landmarks (iBUG 300-W layout) from face-api's landmark nets, run by ONNX Runtime.

The active-speaker scoring reads mouth motion from them (``mouth_opening``) and the face
descriptor crops faces the way face-api aligns them (``aligned_box``). All faces of a frame go
through the net as one batch. The ONNX files are built at setup from the npm package
(``emotion_training.face_api.build``); no torch or TensorFlow here.

Points: 0-16 jaw, 17-26 brows, 27-35 nose, 36-41 / 42-47 the eyes (the subject's right, then
left), 48-59 outer lips, 60-67 inner lips (60 and 64 the inner corners, 61-63 upper, 65-67 lower).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .backends import OnnxRuntimeBackend
from .face import FaceBox
from .face_onnx import default_model_path, face_batch, load_json_metadata

LANDMARKS_KEY = "face_landmarks"
#: The full net: see ``FaceLandmarker`` for why it is the default.
DEFAULT_MODEL_FILE = "face_landmarks_68.onnx"
TINY_MODEL_FILE = "face_landmarks_68_tiny.onnx"
N_POINTS = 68
MOUTH_OUTER = slice(48, 60)
#: Inner-lip pairs (upper, lower) facing each other across the mouth opening.
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
MOUTH_CORNERS = (48, 54)
RIGHT_EYE, LEFT_EYE, MOUTH = slice(36, 42), slice(42, 48), slice(48, 68)


class FaceLandmarker:
    """68 landmarks of each given face box, in image pixels, one ONNX Runtime call per frame.

    ``variant``: ``"full"`` (face_landmark_68_model, 350 KB of weights; the default) or
    ``"tiny"`` (face_landmark_68_tiny_model, 75 KB). Both read a 112x112 crop. The full net costs
    ~0.6 ms more per face on one CPU core (1.7 vs 1.1 ms, crop included; scripts/
    bench_face_stack.py) and is the better signal for ``mouth_opening``, which the active-speaker
    scoring correlates with speech: on the demo faces closed lips read 0.01-0.03 with it against
    0.04-0.09 with the tiny net (a smaller floor under the same open-mouth values), and its points
    move less when the box jitters by +-5 % as a tracker's does (0.57 % vs 0.69 % of the face).
    """

    def __init__(self, model_path: str | Path | None = None, variant: str = "full",
                 providers: Sequence[str] | None = None, intra_op_threads: int = 0) -> None:
        if variant not in ("full", "tiny"):
            raise ValueError(f"landmark variant {variant!r}: expected 'full' or 'tiny'")
        path = Path(model_path) if model_path else default_model_path(
            DEFAULT_MODEL_FILE if variant == "full" else TINY_MODEL_FILE)
        meta = load_json_metadata(path, LANDMARKS_KEY, "face_landmark_68")
        self._backend = OnnxRuntimeBackend(path, providers, intra_op_threads)
        self.model_path = path
        self.providers = self._backend.providers
        self.variant = "tiny" if meta["kind"].endswith("tiny") else "full"
        self.input_size = int(meta["input_size"])
        self._input, self._output = meta["input"], meta["output"]

    def run_net(self, faces: np.ndarray) -> np.ndarray:
        """Raw net: ``(N, 3, S, S)`` float32 RGB 0..255 -> ``(N, 68, 2)`` points relative to the
        input square (what face-api's ``runNet`` returns; the parity tests compare these)."""
        if len(faces) == 0:
            return np.zeros((0, N_POINTS, 2), np.float32)
        out = self._backend.run({self._input: np.ascontiguousarray(faces, np.float32)})[self._output]
        return out.reshape(len(faces), N_POINTS, 2)

    def landmarks(self, bgr: np.ndarray, boxes: Sequence[FaceBox]) -> np.ndarray:
        """``(N, 68, 2)`` float32 (x, y) image pixels of the faces in ``boxes`` (N = len(boxes)),
        all in one batch. A box that does not overlap the image gives a row of NaN."""
        batch, mapping, valid = face_batch(bgr, boxes, self.input_size)
        out = np.full((len(boxes), N_POINTS, 2), np.nan, np.float32)
        if valid.any():
            rel = self.run_net(batch[valid]).astype(np.float64)
            m = mapping[valid]
            out[valid] = (m[:, None, :2] + rel * m[:, None, 2:3]).astype(np.float32)
        return out


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap over mouth width: 0 with closed lips, ~0.3-0.5 wide open.

    ``landmarks``: ``(68, 2)`` or ``(N, 68, 2)``; returns a scalar array or ``(N,)``. The gap is
    the mean distance of the three facing inner-lip pairs (61-67, 62-66, 63-65); the width is
    the outer mouth corners' distance (48-54), which barely moves while speaking and cancels
    face size and distance to the camera. Distances, not y differences, so a tilted head reads
    the same. NaN where the width is zero or a point is NaN.
    """
    pts = np.asarray(landmarks, np.float64)
    if pts.shape[-2:] != (N_POINTS, 2):
        raise ValueError(f"landmarks must be (..., {N_POINTS}, 2), got {pts.shape}")
    upper = pts[..., [a for a, _ in INNER_LIP_PAIRS], :]
    lower = pts[..., [b for _, b in INNER_LIP_PAIRS], :]
    gap = np.linalg.norm(upper - lower, axis=-1).mean(axis=-1)
    width = np.linalg.norm(pts[..., MOUTH_CORNERS[1], :] - pts[..., MOUTH_CORNERS[0], :], axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(width > 0, gap / width, np.nan)


#: ``eye_anchored_box``: side and centre (below the eye midpoint) in eye-centre distances, the mean
#: geometry of face-api's detector boxes around the landmarks of the face they frame.
EYE_BOX_SIDE, EYE_BOX_DROP = 3.0, 0.75


def eye_anchored_box(landmarks: np.ndarray) -> FaceBox:
    """A face box placed from the eyes alone, for a second landmark pass that reads the mouth.

    A detector's or tracker's box breathes by several percent from frame to frame and grows as
    the jaw drops, and the landmarks follow it: on the demo clip a closed mouth read 0.012-0.016
    of jitter on tracker boxes. The eyes do not move when a person speaks, so a box anchored to
    them holds the face still in the crop: 0.004-0.005 on the same frames, and the opening then
    follows the jaw (correlation 0.88-0.90 against 0.68-0.73). ``(68, 2)`` image pixels in.
    """
    pts = np.asarray(landmarks, np.float64)
    right, left = pts[RIGHT_EYE].mean(axis=0), pts[LEFT_EYE].mean(axis=0)
    d = float(np.linalg.norm(left - right))
    cx, cy = (right + left) / 2.0 + (0.0, EYE_BOX_DROP * d)
    side = EYE_BOX_SIDE * d
    return FaceBox(int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side)))


def aligned_box(landmarks: np.ndarray) -> FaceBox:
    """face-api's face alignment for the descriptor (``FaceLandmarks.align``, dlib style): a
    square of side (mean eye-to-mouth distance) / 0.45 whose point at 50 % / 43 % of its side is
    the mean of the two eye centres and the mouth centre. ``(68, 2)`` image pixels in; the box
    may reach past the image (the crop clips it, as face-api's does)."""
    pts = np.asarray(landmarks, np.float64)
    centres = [pts[RIGHT_EYE].mean(axis=0), pts[LEFT_EYE].mean(axis=0), pts[MOUTH].mean(axis=0)]
    mouth = centres[2]
    eye_to_mouth = (np.linalg.norm(mouth - centres[0]) + np.linalg.norm(mouth - centres[1])) / 2.0
    size = int(np.floor(eye_to_mouth / 0.45))
    ref = np.mean(centres, axis=0)
    x = int(np.floor(max(0.0, ref[0] - 0.5 * size)))
    y = int(np.floor(max(0.0, ref[1] - 0.43 * size)))
    return FaceBox(x, y, size, size)

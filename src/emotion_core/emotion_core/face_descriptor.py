"""128-d face descriptors from face-api's FaceRecognitionNet (dlib's ResNet), run by ONNX Runtime.

Used to give a person who comes back into view their old track id. All faces of a frame are
embedded in one batch.

Distance convention: euclidean, as face-api's. face-api compares RAW descriptors with a
same-person threshold of 0.6 (``FACE_API_SAME_PERSON_DISTANCE``; ``embed(normalise=False)``).
The raw descriptors of this net are not unit length: their norm is 1.44-1.50 on the 21 demo
faces, so on the L2-normalised descriptors ``embed`` returns by default the same decision is
0.6 / 1.46 ~= 0.41; ``SAME_PERSON_DISTANCE`` = 0.4. Measured on the demo faces (test/face_stack):
the same face seen again (camera size, darker, JPEG, mirrored) <= 0.27, two different people
>= 0.34 (5th percentile 0.41, median 0.49).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .backends import OnnxRuntimeBackend
from .face import FaceBox
from .face_landmarks import aligned_box
from .face_onnx import default_model_path, face_batch, load_json_metadata

DESCRIPTOR_KEY = "face_descriptor"
DEFAULT_MODEL_FILE = "face_descriptor.onnx"
DIM = 128
#: Euclidean distance below which two L2-normalised descriptors are the same person.
SAME_PERSON_DISTANCE = 0.4
#: face-api's threshold, for raw descriptors (``embed(..., normalise=False)``).
FACE_API_SAME_PERSON_DISTANCE = 0.6


def l2_normalise(x: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (a zero row stays zero)."""
    x = np.asarray(x, np.float32)
    norm = np.linalg.norm(x, axis=-1, keepdims=True)
    return np.where(norm > 0, x / np.maximum(norm, 1e-12), 0.0).astype(np.float32)


def distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distance of descriptors, broadcast over leading axes: ``(128,)`` x ``(128,)`` ->
    scalar, ``(N, 128)`` x ``(M, 1, 128)``-style -> the broadcast shape."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=-1)


def distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(N, M)`` euclidean distances between rows of ``a`` ``(N, 128)`` and ``b`` ``(M, 128)``."""
    return distance(np.asarray(a)[:, None, :], np.asarray(b)[None, :, :])


def same_person(a: np.ndarray, b: np.ndarray, threshold: float = SAME_PERSON_DISTANCE) -> np.ndarray:
    """Same person when the distance is below ``threshold`` (default: for normalised descriptors;
    pass ``FACE_API_SAME_PERSON_DISTANCE`` for raw ones)."""
    return distance(a, b) < threshold


class FaceDescriptor:
    """128-d descriptors of face boxes in a BGR image, in one ONNX Runtime call.

    Pass the faces' landmarks (``FaceLandmarker.landmarks``) to crop them as face-api does
    before its recognition net (``aligned_box``): descriptors of the same person then agree
    better than from detector boxes, whose extent varies by detector.
    """

    def __init__(self, model_path: str | Path | None = None, providers: Sequence[str] | None = None,
                 intra_op_threads: int = 0) -> None:
        path = Path(model_path) if model_path else default_model_path(DEFAULT_MODEL_FILE)
        meta = load_json_metadata(path, DESCRIPTOR_KEY, "face_recognition")
        self._backend = OnnxRuntimeBackend(path, providers, intra_op_threads)
        self.model_path = path
        self.providers = self._backend.providers
        self.input_size = int(meta["input_size"])
        self.dim = int(meta["dim"])
        self._input, self._output = meta["input"], meta["output"]

    def run_net(self, faces: np.ndarray) -> np.ndarray:
        """Raw net: ``(N, 3, 150, 150)`` float32 RGB 0..255 -> ``(N, 128)`` unnormalised
        descriptors (what face-api's ``computeFaceDescriptor`` returns)."""
        if len(faces) == 0:
            return np.zeros((0, self.dim), np.float32)
        return self._backend.run({self._input: np.ascontiguousarray(faces, np.float32)})[self._output]

    def crop_boxes(self, boxes: Sequence[FaceBox], landmarks: np.ndarray | None = None) -> list[FaceBox]:
        """The boxes the net reads: face-api's aligned boxes when landmarks are given."""
        if landmarks is None:
            return list(boxes)
        landmarks = np.asarray(landmarks)
        if len(landmarks) != len(boxes):
            raise ValueError(f"{len(landmarks)} landmark sets for {len(boxes)} boxes")
        return [box if not np.isfinite(pts).all() else aligned_box(pts) for box, pts in zip(boxes, landmarks)]

    def embed(self, bgr: np.ndarray, boxes: Sequence[FaceBox], landmarks: np.ndarray | None = None,
              normalise: bool = True) -> np.ndarray:
        """``(N, 128)`` float32 descriptors of the faces (L2-normalised unless ``normalise`` is
        False); a box that does not overlap the image gives a row of NaN.

        ``landmarks``: optional ``(N, 68, 2)`` image pixels of the same faces; the face is then
        cropped around them as face-api does.
        """
        batch, _, valid = face_batch(bgr, self.crop_boxes(boxes, landmarks), self.input_size)
        out = np.full((len(boxes), self.dim), np.nan, np.float32)
        if valid.any():
            raw = self.run_net(batch[valid])
            out[valid] = l2_normalise(raw) if normalise else raw
        return out

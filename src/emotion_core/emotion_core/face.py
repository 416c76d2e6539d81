"""Face detection and the face-crop preprocessing that the model contract describes."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .contract import FaceSpec
from .face_types import FaceBox, FaceDetector

__all__ = ["DETECTOR_NAMES", "FaceBox", "FaceDetector", "HaarFaceDetector", "create_detector", "crop_square",
           "face_tensor", "normalize_crop", "square_box"]


class HaarFaceDetector:
    """OpenCV's frontal-face Haar cascade (ships inside opencv-python 4.x, works offline).

    Runs on a downscaled grey image: detection cost grows with pixels, and faces a robot cares
    about are large.
    """

    name = "haar"

    def __init__(self, max_side: int = 480, min_size_frac: float = 0.1,
                 scale_factor: float = 1.15, min_neighbors: int = 4,
                 cascade: str | Path | None = None) -> None:
        import cv2

        path = Path(cascade) if cascade else Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FileNotFoundError(f"cannot load Haar cascade {path} (opencv 5 ships none: use opencv<5)")
        self.max_side = max_side
        self.min_size_frac = min_size_frac
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors

    def detect(self, bgr: np.ndarray) -> list[FaceBox]:
        import cv2

        h, w = bgr.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        grey = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY) if bgr.ndim == 3 else bgr
        if scale < 1.0:
            grey = cv2.resize(grey, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_AREA)
        grey = cv2.equalizeHist(grey)
        min_side = max(12, int(min(grey.shape) * self.min_size_frac))
        found, _, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(min_side, min_side), outputRejectLevels=True)
        boxes = []
        for (x, y, bw, bh), score in zip(found, np.asarray(weights).reshape(-1)):
            boxes.append(FaceBox(int(x / scale), int(y / scale), int(bw / scale), int(bh / scale),
                                 float(score)))
        return sorted(boxes, key=lambda b: b.area, reverse=True)


def square_box(box: FaceBox, margin: float = 0.0) -> tuple[int, int, int]:
    """Square around the box centre, side = longer side x (1 + margin): (x0, y0, side)."""
    side = int(round(max(box.w, box.h) * (1.0 + margin)))
    cx, cy = box.x + box.w / 2.0, box.y + box.h / 2.0
    return int(round(cx - side / 2.0)), int(round(cy - side / 2.0)), max(side, 1)


def crop_square(bgr: np.ndarray, box: FaceBox, margin: float = 0.0, pad: bool = True) -> np.ndarray:
    """Square crop around a face; parts outside the image are zero-padded (or the square is
    shifted inside the image when ``pad`` is False)."""
    h, w = bgr.shape[:2]
    x0, y0, side = square_box(box, margin)
    if not pad:
        side = min(side, h, w)
        x0 = int(np.clip(x0, 0, w - side))
        y0 = int(np.clip(y0, 0, h - side))
        return bgr[y0:y0 + side, x0:x0 + side]
    out = np.zeros((side, side) + bgr.shape[2:], dtype=bgr.dtype)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + side, w), min(y0 + side, h)
    if sx1 > sx0 and sy1 > sy0:
        out[sy0 - y0:sy1 - y0, sx0 - x0:sx1 - x0] = bgr[sy0:sy1, sx0:sx1]
    return out


def normalize_crop(crop_bgr: np.ndarray, spec: FaceSpec) -> np.ndarray:
    """Square BGR crop -> ``(3, size, size)`` float32 tensor as the contract says."""
    import cv2

    interp = cv2.INTER_AREA if crop_bgr.shape[0] > spec.size else cv2.INTER_LINEAR
    img = cv2.resize(crop_bgr, (spec.size, spec.size), interpolation=interp)
    if spec.channel_order == "RGB":
        img = img[:, :, ::-1]
    x = img.astype(np.float32)
    x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1))


def face_tensor(bgr: np.ndarray, boxes: Sequence[FaceBox], spec: FaceSpec) -> np.ndarray:
    """Batch ``(N, 3, size, size)`` of the given faces."""
    if not boxes:
        return np.zeros((0, 3, spec.size, spec.size), np.float32)
    return np.stack([normalize_crop(crop_square(bgr, b, spec.margin, spec.pad_square), spec)
                     for b in boxes])


def create_detector(name: str = "auto", **kwargs) -> FaceDetector:
    """Detector by name; unknown names raise with the list of available ones.

    - ``tiny``: face-api's tiny face detector in ONNX Runtime (``face_onnx.TinyFaceDetector``;
      model built by scripts/setup.sh). The default: it found 21/21 demo faces against 15/21 for
      Haar, and is ~6x faster at 640x480 (figures: scripts/bench_face_stack.py).
    - ``ssd``: face-api's SSD MobileNetV1 in ONNX Runtime (``face_ssd.SsdFaceDetector``; built
      by scripts/setup.sh): the stronger detector, several times slower than ``tiny``.
    - ``haar``: OpenCV's Haar cascade; needs no model file.
    - ``auto``: ``tiny`` when its model file is found, else ``haar`` with a warning, so a
      checkout without the built models still runs.
    """
    if name == "haar":
        return HaarFaceDetector(**kwargs)
    if name == "ssd":
        from .face_ssd import SsdFaceDetector

        return SsdFaceDetector(**kwargs)
    if name in ("tiny", "auto"):
        from .face_onnx import TinyFaceDetector

        try:
            return TinyFaceDetector(**kwargs)
        except FileNotFoundError as exc:
            if name == "tiny":
                raise
            import logging

            logging.getLogger(__name__).warning("%s; using the Haar cascade instead", exc)
            return HaarFaceDetector()
    raise ValueError(f"unknown face detector {name!r}; available: {list(DETECTOR_NAMES)}")


#: Names ``create_detector`` accepts.
DETECTOR_NAMES = ("auto", "tiny", "ssd", "haar")

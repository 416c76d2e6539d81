"""Recall of a face detector on the 21 hand-checked faces of face-api's demo photos.

The ground truth lives in ``test/fixtures/face_api/demo_faces.json``; the photos come from the
npm package in the cache. Used by the tests (a recall floor) and by the benchmark (the figures
that chose the default detector).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

Box = Sequence[float]  # x, y, w, h


@dataclass(frozen=True)
class RecallResult:
    """Hits, misses and false positives over all photos."""

    hits: int
    faces: int
    false_positives: int

    @property
    def recall(self) -> float:
        return self.hits / self.faces if self.faces else 0.0

    def __str__(self) -> str:
        return f"{self.hits}/{self.faces} faces, {self.false_positives} false positives"


def load_ground_truth(path: str | Path) -> dict:
    """``{"match_iou": float, "photos": {name: {"faces": [[x, y, w, h]], "ignore": [...]}}}``."""
    data = json.loads(Path(path).read_text())
    if "photos" not in data:
        raise ValueError(f"{path} has no 'photos' section")
    return data


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def match(detections: Iterable[Box], faces: Sequence[Box], ignore: Sequence[Box] = (),
          min_iou: float = 0.3) -> tuple[int, int]:
    """(hits, false positives): each face is matched to at most one detection, greedily by IoU.

    The IoU floor is low on purpose: detectors draw boxes of different extent around the same
    face (Haar's are tight squares, face-api's include the forehead).
    """
    dets = [tuple(map(float, d[:4])) for d in detections]
    pairs = sorted(((iou(d, f), i, j) for i, d in enumerate(dets) for j, f in enumerate(faces)),
                   reverse=True)
    used_d: set[int] = set()
    used_f: set[int] = set()
    for value, i, j in pairs:
        if value < min_iou:
            break
        if i not in used_d and j not in used_f:
            used_d.add(i)
            used_f.add(j)
    spare = [d for i, d in enumerate(dets) if i not in used_d]
    false_pos = sum(1 for d in spare if not any(iou(d, g) >= min_iou for g in ignore))
    return len(used_f), false_pos


def demo_recall(detect: Callable[[np.ndarray], Iterable[Box]], photos: Sequence[Path],
                ground_truth: dict, resize_to: tuple[int, int] | None = None) -> RecallResult:
    """Run ``detect`` (BGR image -> boxes x, y, w, h) over the photos and score it.

    ``resize_to`` (width, height): shrink each photo to a camera-like frame first (boxes are
    scaled back), to see recall at the resolution the robot runs at.
    """
    import cv2

    hits = faces = fps = 0
    min_iou = float(ground_truth.get("match_iou", 0.3))
    for photo in photos:
        truth = ground_truth["photos"][photo.name]
        image = cv2.imread(str(photo))
        if image is None:
            raise FileNotFoundError(f"cannot read demo photo {photo}")
        if resize_to is None:
            found = list(detect(image))
        else:
            sx, sy = image.shape[1] / resize_to[0], image.shape[0] / resize_to[1]
            small = cv2.resize(image, resize_to, interpolation=cv2.INTER_AREA)
            found = [(x * sx, y * sy, w * sx, h * sy) for x, y, w, h in detect(small)]
        h, fp = match(found, truth["faces"], truth.get("ignore", ()), min_iou)
        hits, faces, fps = hits + h, faces + len(truth["faces"]), fps + fp
    return RecallResult(hits, faces, fps)

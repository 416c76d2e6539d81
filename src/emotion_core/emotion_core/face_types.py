"""The face box and the detector interface, in a leaf module: every detector (Haar in ``face``,
the ONNX ones in ``face_onnx`` / ``face_ssd``) returns ``FaceBox``es, and ``face.create_detector``
builds each of them, so the type cannot live beside the factory without an import cycle.
``emotion_core.face`` re-exports both names."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class FaceBox:
    """Axis-aligned face box in source-image pixels."""

    x: int
    y: int
    w: int
    h: int
    score: float = 1.0

    @property
    def area(self) -> int:
        return self.w * self.h


class FaceDetector(Protocol):
    """Anything that finds faces in a BGR uint8 image."""

    name: str

    def detect(self, bgr: np.ndarray) -> list[FaceBox]: ...

"""face-api's SSD MobileNetV1 face detector run by ONNX Runtime: the stronger, slower detector.

The ONNX file (built at setup, ``emotion_training.face_api.build``) decodes the 5118 anchor
boxes itself; score threshold, NMS and the mapping to image pixels are here, as face-api's
``SsdMobilenetv1.locateFaces`` does them.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .backends import OnnxRuntimeBackend
from .face_types import FaceBox
from .face_onnx import DETECTOR_KEY, default_model_path, letterbox, load_json_metadata, nms

DEFAULT_MODEL_FILE = "face_detector_ssd.onnx"


class SsdFaceDetector:
    """``FaceDetector`` over face-api's SSD MobileNetV1 (512x512 input, 5.4 MB of weights).

    Scores faces more confidently than the tiny detector (21/21 demo faces and no false positive
    at full size, against one for tiny@416) at ~10x its cost on a CPU core (~65 vs ~7 ms per
    640x480 frame, one thread; scripts/bench_face_stack.py). Defaults (threshold 0.5, IoU 0.5,
    at most 100 faces) are face-api's, read from the model's metadata.
    """

    name = "ssd"

    def __init__(self, model_path: str | Path | None = None, score_threshold: float | None = None,
                 iou_threshold: float | None = None, max_results: int | None = None,
                 providers: Sequence[str] | None = None, intra_op_threads: int = 0) -> None:
        path = Path(model_path) if model_path else default_model_path(DEFAULT_MODEL_FILE)
        meta = load_json_metadata(path, DETECTOR_KEY, "ssd_mobilenetv1")
        self._backend = OnnxRuntimeBackend(path, providers, intra_op_threads)
        self.model_path = path
        self.providers = self._backend.providers
        self.input_size = int(meta["input_size"])
        self._input = meta["input"]
        self._boxes, self._scores = meta["outputs"]
        self.score_threshold = float(meta["score_threshold"] if score_threshold is None else score_threshold)
        self.iou_threshold = float(meta["iou_threshold"] if iou_threshold is None else iou_threshold)
        self.max_results = int(meta["max_results"] if max_results is None else max_results)
        if not 0.0 < self.score_threshold < 1.0:
            raise ValueError(f"score_threshold {self.score_threshold} must be in (0, 1)")

    def run_net(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(1, 3, S, S)`` float32 RGB 0..255 -> one image's decoded boxes ``(5118, 4)``
        (ymin, xmin, ymax, xmax relative to the padded square) and face scores ``(5118,)``."""
        out = self._backend.run({self._input: image})
        return out[self._boxes][0].astype(np.float64), out[self._scores][0].astype(np.float64)

    def postprocess(self, boxes: np.ndarray, scores: np.ndarray,
                    image_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Threshold, NMS (best first, at most ``max_results``), clip to the square and map to
        image pixels ``(K, 4)`` x0, y0, x1, y1, as face-api's ``locateFaces``."""
        candidates = np.nonzero(scores > self.score_threshold)[0]
        if candidates.size == 0:
            return np.zeros((0, 4)), np.zeros(0)
        keep = candidates[nms(boxes[candidates], scores[candidates], self.iou_threshold)][:self.max_results]
        h, w = image_hw
        side = max(h, w)
        # Relative to the padded square -> image pixels: face-api scales by
        # input_size / round(dim * input_size / side), then by the image size.
        fx = w * self.input_size / round(w * self.input_size / side)
        fy = h * self.input_size / round(h * self.input_size / side)
        b = boxes[keep]
        y0, x0 = np.maximum(b[:, 0], 0.0) * fy, np.maximum(b[:, 1], 0.0) * fx
        y1, x1 = np.minimum(b[:, 2], 1.0) * fy, np.minimum(b[:, 3], 1.0) * fx
        return np.stack([x0, y0, x1, y1], axis=1), scores[keep]

    def detect_raw(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Float boxes (x0, y0, x1, y1) in image pixels (clipped to the image, as face-api clips
        them) and their scores after NMS, best score first: what face-api's ``locateFaces``
        returns (the parity tests compare these)."""
        return self.postprocess(*self.run_net(letterbox(bgr, self.input_size)), bgr.shape[:2])

    def detect(self, bgr: np.ndarray) -> list[FaceBox]:
        """Faces in a BGR (or grey) uint8 image, largest first, boxes clipped to the image."""
        h, w = bgr.shape[:2]
        boxes, scores = self.detect_raw(bgr)
        faces = []
        for (x0, y0, x1, y1), score in zip(boxes, scores):
            x0, x1 = np.clip([x0, x1], 0, w)
            y0, y1 = np.clip([y0, y1], 0, h)
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                faces.append(FaceBox(int(round(x0)), int(round(y0)), int(round(x1 - x0)),
                                     int(round(y1 - y0)), float(score)))
        return sorted(faces, key=lambda f: f.area, reverse=True)

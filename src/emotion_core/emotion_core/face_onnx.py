"""face-api's tiny face detector (a tiny YOLOv2, 190 KB of weights) run by ONNX Runtime, and
the helpers the other face-api ONNX models share (model lookup, metadata, face crops).

The ONNX files are built at setup from the npm package (``emotion_training.face_api.build``);
each carries its decoding parameters in its metadata. Pre-processing, box decoding and NMS are
here in numpy/OpenCV, as face-api does them, so the robot needs neither torch nor TensorFlow.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from . import data_paths
from .backends import OnnxRuntimeBackend
from .face_types import FaceBox

DETECTOR_KEY = "face_detector"
DEFAULT_MODEL_FILE = "face_detector_tiny.onnx"
#: Folder searched first for models named without a path.
MODELS_DIR_ENV = "EMOTION_MODELS_DIR"


def default_model_path(filename: str = DEFAULT_MODEL_FILE) -> Path:
    """``filename`` in ``$EMOTION_MODELS_DIR`` if set, else ``data/models/<filename>`` by the
    data path rule (``emotion_core.data_paths``: an installed package finds its share folder);
    raises listing where it looked."""
    if os.environ.get(MODELS_DIR_ENV):
        candidate = Path(os.environ[MODELS_DIR_ENV]) / filename
        if candidate.is_file():
            return candidate
    return data_paths.resolve(Path("data") / "models" / filename, "face model",
                              "run scripts/setup.sh (it builds it from the face-api npm package) "
                              "or pass model_path")


def read_metadata(path: Path) -> dict[str, str]:
    """``metadata_props`` of an ONNX file (onnx is a runtime dependency; the graph is small)."""
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf raises DecodeError and friends for corrupt files
        raise ValueError(f"{path} is not a readable ONNX file: {exc}") from exc
    return {p.key: p.value for p in model.metadata_props}


def load_json_metadata(path: Path, key: str, kind_prefix: str | None = None) -> dict:
    """The JSON metadata entry ``key`` of a face-api ONNX file, checked to exist (and, with
    ``kind_prefix``, to describe the expected network) so a wrong file fails at load time."""
    if not path.is_file():
        raise FileNotFoundError(f"face model not found: {path} (run scripts/setup.sh)")
    text = read_metadata(path).get(key)
    if not text:
        raise ValueError(f"{path} has no '{key}' metadata: build it with "
                         "python -m emotion_training.face_api.build")
    meta = json.loads(text)
    if kind_prefix is not None and not str(meta.get("kind", "")).startswith(kind_prefix):
        raise ValueError(f"{path} holds a {meta.get('kind')!r} model, expected {kind_prefix!r}")
    return meta


def _legacy_axis(n: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tfjs's legacy bilinear sampling of ``n`` source pixels at ``size`` outputs: (lower index,
    upper index, float32 weight of the upper) per output pixel."""
    pos = np.arange(size, dtype=np.float64) * (n / size)
    lo = np.floor(pos).astype(np.intp)
    return lo, np.minimum(lo + 1, n - 1), (pos - lo).astype(np.float32)


def _resize_chw(src: np.ndarray, size: int) -> np.ndarray:
    """``(c, h, w)`` float32 -> ``(c, size, size)``: ``resize_bilinear_legacy``'s arithmetic
    (across first, then rows blended) on channel-first planes, so numpy's inner loops run along
    image rows instead of over 3 channels (3-4x faster for a face patch; the same float32
    operations in the same order, so the same values)."""
    h, w = src.shape[1:]
    if (h, w) == (size, size):
        return src
    y0, y1, fy = _legacy_axis(h, size)
    x0, x1, fx = _legacy_axis(w, size)
    left = src[:, :, x0]
    rows = left + (src[:, :, x1] - left) * fx  # (c, h, size)
    top = rows[:, y0]
    return top + (rows[:, y1] - top) * fy[:, None]


def resize_bilinear_legacy(image: np.ndarray, size: int) -> np.ndarray:
    """``(h, w, c)`` float -> ``(size, size, c)`` float32 with tfjs's bilinear resize without
    half-pixel centres (``src = dst * in / out``, edge clamped; ``top = a + (b - a) * fx``, then
    ``top + (bottom - top) * fy``), so the landmark and descriptor nets see what face-api feeds
    them (to ~1e-4 of a grey level: float32 here, JS doubles there). Separable: each source row
    is interpolated across once, then rows are blended; OpenCV's resize would use half-pixel
    centres and its warps quantise positions to 1/32 pixel."""
    src = image.astype(np.float32, copy=False)
    if src.shape[:2] == (size, size):
        return src
    return _resize_chw(src.transpose(2, 0, 1), size).transpose(1, 2, 0)


def _face_patch_chw(bgr: np.ndarray, box: FaceBox, size: int) -> tuple[np.ndarray, tuple[float, float, float]] | None:
    """``face_patch`` with the patch channel-first ``(3, size, size)``, as the nets take it."""
    img_h, img_w = bgr.shape[:2]
    x, y = max(int(box.x), 0), max(int(box.y), 0)
    w = min(int(box.x + box.w) - x, img_w - x)
    h = min(int(box.y + box.h) - y, img_h - y)
    if w <= 0 or h <= 0:
        return None
    crop = bgr[y:y + h, x:x + w]
    if crop.ndim == 2:
        crop = np.repeat(crop[:, :, None], 3, axis=2)
    side, diff = max(w, h), abs(w - h)
    after = (diff + 1) // 2  # JS Math.round(diff / 2) goes after the image, the rest before
    square = np.zeros((3, side, side), np.float32)
    rgb = crop.transpose(2, 0, 1)[::-1]  # planes R, G, B
    if h >= w:
        square[:, :, diff - after:diff - after + w] = rgb
        origin = (x - diff / 2.0, float(y))
    else:
        square[:, diff - after:diff - after + h, :] = rgb
        origin = (float(x), y - diff / 2.0)
    return _resize_chw(square, size), (origin[0], origin[1], float(side))


def face_patch(bgr: np.ndarray, box: FaceBox, size: int) -> tuple[np.ndarray, tuple[float, float, float]] | None:
    """A face as face-api feeds its landmark and descriptor nets: the box clipped to the image,
    padded with black to a centred square, resized to ``size``.

    Returns ``(patch, (x0, y0, side))``: the ``(size, size, 3)`` float32 RGB patch (0..255), and
    the mapping of a point ``p`` relative to the patch (0..1) to image pixels,
    ``(x0, y0) + p * side`` (face-api's, which centres by half the padding). None when the box
    does not overlap the image.
    """
    found = _face_patch_chw(bgr, box, size)
    if found is None:
        return None
    patch, mapping = found
    return patch.transpose(1, 2, 0), mapping


def face_batch(bgr: np.ndarray, boxes: Sequence[FaceBox], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(N, 3, size, size)`` float32 RGB 0..255 patches of the boxes (black for a box outside
    the image), ``(N, 3)`` mappings ``(x0, y0, side)`` and an ``(N,)`` validity mask."""
    batch = np.zeros((len(boxes), 3, size, size), np.float32)
    mapping = np.zeros((len(boxes), 3), np.float64)
    valid = np.zeros(len(boxes), bool)
    for i, box in enumerate(boxes):
        found = _face_patch_chw(bgr, box, size)
        if found is None:
            continue
        batch[i], mapping[i] = found
        valid[i] = True
    return batch, mapping, valid


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def letterbox(bgr: np.ndarray, size: int) -> np.ndarray:
    """``(1, 3, size, size)`` float32 RGB: the image padded with black at bottom/right to a square,
    resized bilinearly without half-pixel offset (TF's legacy resize, as face-api feeds it)."""
    import cv2

    if bgr.ndim == 2:
        bgr = cv2.cvtColor(bgr, cv2.COLOR_GRAY2BGR)
    scale = size / max(bgr.shape[:2])
    matrix = np.array([[scale, 0.0, 0.0], [0.0, scale, 0.0]], np.float64)
    square = cv2.warpAffine(bgr, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    return np.ascontiguousarray(square[:, :, ::-1].transpose(2, 0, 1)[None], dtype=np.float32)


def decode_grid(grid: np.ndarray, anchors: np.ndarray, image_hw: tuple[int, int], input_size: int,
                score_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """One image's ``(A*5, G, G)`` output -> boxes ``(K, 4)`` x0, y0, x1, y1 in image pixels and
    their scores, for cells whose objectness exceeds ``score_threshold``."""
    n_anchors = anchors.shape[0]
    cells = grid.shape[-1]
    g = grid.reshape(n_anchors, 5, cells, cells).astype(np.float64)
    score = sigmoid(g[:, 4])
    a, row, col = np.nonzero(score > score_threshold)
    if a.size == 0:
        return np.zeros((0, 4)), np.zeros(0)
    h, w = image_hw
    side = max(h, w)
    # face-api scales relative boxes by input_size / round(dim * input_size / side), per axis.
    fx = w * input_size / round(w * input_size / side)
    fy = h * input_size / round(h * input_size / side)
    cx = (col + sigmoid(g[a, 0, row, col])) / cells * fx
    cy = (row + sigmoid(g[a, 1, row, col])) / cells * fy
    bw = np.exp(g[a, 2, row, col]) * anchors[a, 0] / cells * fx
    bh = np.exp(g[a, 3, row, col]) * anchors[a, 1] / cells * fy
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], axis=1)
    return boxes, score[a, row, col]


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy non-maximum suppression; indices of the kept boxes, best score first."""
    order = list(np.argsort(-scores, kind="stable"))
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep: list[int] = []
    while order:
        best = order.pop(0)
        keep.append(int(best))
        if not order:
            break
        idx = np.asarray(order)
        a, rest = boxes[best], boxes[idx]
        iw = np.clip(np.minimum(a[2], rest[:, 2]) - np.maximum(a[0], rest[:, 0]), 0, None)
        ih = np.clip(np.minimum(a[3], rest[:, 3]) - np.maximum(a[1], rest[:, 1]), 0, None)
        inter = iw * ih
        iou = inter / (areas[best] + areas[idx] - inter)
        order = [i for i, v in zip(order, iou) if v <= iou_threshold]
    return keep


class TinyFaceDetector:
    """``FaceDetector`` over face-api's tiny face detector ONNX (see module docstring).

    ``input_size`` (multiple of 32) trades recall of small faces for speed; the default comes
    from the model's metadata.
    """

    name = "tiny"

    def __init__(self, model_path: str | Path | None = None, input_size: int | None = None,
                 score_threshold: float | None = None, iou_threshold: float | None = None,
                 providers: Sequence[str] | None = None, intra_op_threads: int = 0) -> None:
        path = Path(model_path) if model_path else default_model_path()
        meta = load_json_metadata(path, DETECTOR_KEY, "tiny_yolov2")
        self._backend = OnnxRuntimeBackend(path, providers, intra_op_threads)
        self.model_path = path
        self.providers = self._backend.providers
        self._input = meta["input"]
        self._output = meta["output"]
        self.anchors = np.asarray(meta["anchors"], np.float64)
        self.stride = int(meta["stride"])
        self.input_size = int(input_size or meta["input_size"])
        if self.input_size <= 0 or self.input_size % self.stride:
            raise ValueError(f"input_size {self.input_size} must be a positive multiple of {self.stride}")
        self.score_threshold = float(meta["score_threshold"] if score_threshold is None else score_threshold)
        self.iou_threshold = float(meta["iou_threshold"] if iou_threshold is None else iou_threshold)

    def detect_raw(self, bgr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Unclipped float boxes (x0, y0, x1, y1) in image pixels and their scores after NMS,
        best score first (what face-api returns; the parity tests compare these)."""
        grid = self._backend.run({self._input: letterbox(bgr, self.input_size)})[self._output]
        boxes, scores = decode_grid(grid[0], self.anchors, bgr.shape[:2], self.input_size,
                                    self.score_threshold)
        keep = nms(boxes, scores, self.iou_threshold)
        return boxes[keep], scores[keep]

    def detect(self, bgr: np.ndarray) -> list[FaceBox]:
        """Faces in a BGR (or grey) uint8 image, largest first, boxes clipped to the image."""
        h, w = bgr.shape[:2]
        boxes, scores = self.detect_raw(bgr)
        x0 = np.clip(boxes[:, 0], 0, w)
        y0 = np.clip(boxes[:, 1], 0, h)
        x1 = np.clip(boxes[:, 2], 0, w)
        y1 = np.clip(boxes[:, 3], 0, h)
        faces = [FaceBox(int(round(a)), int(round(b)), int(round(c - a)), int(round(d - b)), float(s))
                 for a, b, c, d, s in zip(x0, y0, x1, y1, scores) if c - a >= 1 and d - b >= 1]
        return sorted(faces, key=lambda f: f.area, reverse=True)

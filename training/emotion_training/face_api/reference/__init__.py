"""The parity fixture: fixed inputs and what the original face-api (tfjs) computed on them.

Files in ``test/fixtures/face_api/``:

- ``faces.png``: the 21 demo faces, square crops at 56x56 in a 7x3 mosaic (lossless, so the
  pixels are exact everywhere); each becomes a 112x112 input by 2x pixel repetition;
- ``reference.json``: face-api's logits and probabilities on those inputs and on a few synthetic
  ones, and its tiny face detector's boxes on the demo photos at several input sizes; the raw
  outputs of both 68-landmark nets on the same 112x112 inputs and of the recognition net on
  150x150 versions of them (``recognition_inputs``); the SSD detector's boxes on the demo photos;
  and the library's own pipeline on the hand-checked demo faces (landmarks of both nets in image
  pixels, the aligned box, the descriptor). New sections are rounded (6 decimals for net
  outputs, 3 for pixels) to keep the fixture small;
- ``demo_faces.json``: the hand-checked face boxes (see ``emotion_training.face_api.demo``).

Regenerate with ``python -m emotion_training.face_api.reference`` (needs node + npm).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

TILE = 56
MOSAIC_COLUMNS = 7
INPUT_SIZE = 112
N_SYNTHETIC = 4
FACES_PNG = "faces.png"
REFERENCE_JSON = "reference.json"
GROUND_TRUTH_JSON = "demo_faces.json"


def synthetic_inputs(size: int = INPUT_SIZE) -> np.ndarray:
    """``(4, size, size, 3)`` uint8 RGB test patterns from integer arithmetic only (exact on any
    platform): flat grey, colour ramps, a checkerboard, LCG noise."""
    y, x = np.mgrid[0:size, 0:size].astype(np.int64)
    grey = np.full((size, size, 3), 128, np.int64)
    ramps = np.stack([x * 255 // (size - 1), y * 255 // (size - 1), (x + y) * 255 // (2 * size - 2)], -1)
    checker = (((x // 8 + y // 8) % 2) * 200 + 25)[..., None] * np.array([1, 1, 1]) // np.array([1, 2, 3])
    idx = (np.arange(size * size * 3, dtype=np.int64) * 2654435761 + 12345) % (1 << 32)
    noise = ((idx >> 13) & 255).reshape(size, size, 3)
    return np.stack([grey, ramps, checker, noise]).astype(np.uint8)


def face_tiles(fixture_dir: str | Path) -> np.ndarray:
    """``(21, 56, 56, 3)`` uint8 RGB face crops from ``faces.png``."""
    import cv2

    path = Path(fixture_dir) / FACES_PNG
    mosaic = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if mosaic is None:
        raise FileNotFoundError(f"parity fixture {path} is missing: python -m emotion_training.face_api.reference")
    rows, cols = mosaic.shape[0] // TILE, mosaic.shape[1] // TILE
    tiles = [mosaic[r * TILE:(r + 1) * TILE, c * TILE:(c + 1) * TILE, ::-1]
             for r in range(rows) for c in range(cols)]
    return np.stack(tiles)


def expression_inputs(fixture_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """Names and ``(N, 112, 112, 3)`` uint8 RGB inputs in the order of ``reference.json``."""
    faces = face_tiles(fixture_dir).repeat(INPUT_SIZE // TILE, axis=1).repeat(INPUT_SIZE // TILE, axis=2)
    names = [f"synthetic{i}" for i in range(N_SYNTHETIC)] + [f"face{i:02d}" for i in range(len(faces))]
    return names, np.concatenate([synthetic_inputs(), faces])


RECOGNITION_SIZE = 150


def recognition_inputs(fixture_dir: str | Path) -> tuple[list[str], np.ndarray]:
    """Names and ``(N, 150, 150, 3)`` uint8 RGB inputs of the recognition net: the synthetic
    patterns at 150 px and the face tiles enlarged by nearest-neighbour index mapping (exact,
    so both sides see the same pixels without a resize)."""
    tiles = face_tiles(fixture_dir)
    idx = np.arange(RECOGNITION_SIZE) * TILE // RECOGNITION_SIZE
    faces = tiles[:, idx][:, :, idx]
    names = [f"synthetic{i}" for i in range(N_SYNTHETIC)] + [f"face{i:02d}" for i in range(len(faces))]
    return names, np.concatenate([synthetic_inputs(RECOGNITION_SIZE), faces])


def load_reference(fixture_dir: str | Path) -> dict:
    """The recorded face-api outputs (``reference.json``)."""
    path = Path(fixture_dir) / REFERENCE_JSON
    if not path.is_file():
        raise FileNotFoundError(f"parity fixture {path} is missing: python -m emotion_training.face_api.reference")
    return json.loads(path.read_text())

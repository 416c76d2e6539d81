"""sensor_msgs/Image fields <-> numpy, zero-copy where the layout allows (no cv_bridge)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

#: encoding -> (channels, dtype)
ENCODINGS: dict[str, tuple[int, np.dtype]] = {
    "bgr8": (3, np.dtype("u1")),
    "rgb8": (3, np.dtype("u1")),
    "bgra8": (4, np.dtype("u1")),
    "rgba8": (4, np.dtype("u1")),
    "mono8": (1, np.dtype("u1")),
    "8UC3": (3, np.dtype("u1")),
    "8UC1": (1, np.dtype("u1")),
}


class ImageFormatError(ValueError):
    """An image message whose encoding, size or buffer is unusable."""


class ImageFields(NamedTuple):
    """The parts of sensor_msgs/Image this module needs (height, width, encoding, step, data)."""

    height: int
    width: int
    encoding: str
    step: int
    data: bytes | bytearray | memoryview | np.ndarray


def to_array(fields: ImageFields) -> np.ndarray:
    """A ``(h, w[, c])`` uint8 view of the message buffer, without copying when possible."""
    enc = fields.encoding
    if enc not in ENCODINGS:
        raise ImageFormatError(f"unsupported image encoding {enc!r}; supported: {sorted(ENCODINGS)}")
    channels, dtype = ENCODINGS[enc]
    h, w = int(fields.height), int(fields.width)
    if h <= 0 or w <= 0:
        raise ImageFormatError(f"image has no pixels ({w}x{h})")
    row = w * channels * dtype.itemsize
    step = int(fields.step) or row
    if step < row:
        raise ImageFormatError(f"step {step} is smaller than one row of {w} {enc} pixels ({row} B)")
    buf = fields.data
    flat = buf if isinstance(buf, np.ndarray) else np.frombuffer(buf, dtype=np.uint8)
    flat = flat.view(np.uint8).reshape(-1)
    if flat.size < step * h:
        raise ImageFormatError(f"buffer holds {flat.size} B, {w}x{h} {enc} with step {step} needs {step * h} B")
    rows = flat[: step * h].reshape(h, step)[:, :row]
    arr = rows.view(dtype).reshape(h, w, channels) if channels > 1 else rows.view(dtype).reshape(h, w)
    return arr


def to_bgr(fields: ImageFields) -> np.ndarray:
    """BGR uint8 image; a view for bgr8, a converted copy otherwise."""
    import cv2

    arr = to_array(fields)
    enc = fields.encoding
    if enc in ("bgr8", "8UC3"):
        return arr
    if enc == "rgb8":
        return cv2.cvtColor(arr, cv2.COLOR_RGB2BGR)
    if enc == "bgra8":
        return cv2.cvtColor(arr, cv2.COLOR_BGRA2BGR)
    if enc == "rgba8":
        return cv2.cvtColor(arr, cv2.COLOR_RGBA2BGR)
    return cv2.cvtColor(arr, cv2.COLOR_GRAY2BGR)


def from_array(image: np.ndarray, encoding: str = "bgr8") -> ImageFields:
    """numpy image -> fields for a sensor_msgs/Image (data is a contiguous byte view)."""
    if encoding not in ENCODINGS:
        raise ImageFormatError(f"unsupported image encoding {encoding!r}")
    channels, dtype = ENCODINGS[encoding]
    img = np.ascontiguousarray(image, dtype=dtype)
    if (img.ndim == 2 and channels != 1) or (img.ndim == 3 and img.shape[2] != channels):
        raise ImageFormatError(f"array of shape {img.shape} does not fit encoding {encoding}")
    h, w = img.shape[:2]
    return ImageFields(h, w, encoding, w * channels * dtype.itemsize, img.reshape(-1).view(np.uint8))

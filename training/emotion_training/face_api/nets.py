"""What face-api's networks are, as data: constants, and the weights in ONNX/PyTorch layout.

Read from the package's TypeScript (``src/faceFeatureExtractor``, ``src/faceExpressionNet``,
``src/tinyFaceDetector``, ``src/tinyYolov2``). Both the torch modules and the torch-free ONNX
builder take their parameters from here, so the two cannot drift apart.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from .manifest import ManifestError, require

PACKAGE_NAME = "@vladmandic/face-api"
PACKAGE_VERSION = "1.7.15"
PACKAGE_LICENSE = "MIT"
PACKAGE_COPYRIGHT = "Copyright (c) Vladimir Mandic"

# -- FaceExpressionNet ---------------------------------------------------------------------------
EXPRESSION_MANIFEST = "face_expression_model-weights_manifest.json"
#: Class order of the network's output, as face-api names them.
EXPRESSION_CLASSES = ("neutral", "happy", "sad", "angry", "fearful", "disgusted", "surprised")
EXPRESSION_INPUT_SIZE = 112
#: Subtracted from RGB pixels (0..255), then divided by 255.
EXPRESSION_MEAN_RGB = (122.782, 117.001, 104.298)
#: Output channels of the four dense blocks; the first conv of each block has stride 2.
DENSE_CHANNELS = (32, 64, 128, 256)
CONVS_PER_BLOCK = 4
FEATURE_CHANNELS = DENSE_CHANNELS[-1]

# -- TinyFaceDetector (tiny YOLOv2 with separable convolutions, one class) -----------------------
TINY_MANIFEST = "tiny_face_detector_model-weights_manifest.json"
TINY_CHANNELS = (3, 16, 32, 64, 128, 256, 512)
TINY_MEAN_RGB = (117.001, 114.697, 97.404)
#: Anchor (width, height) in grid cells.
TINY_ANCHORS = ((1.603231, 2.094468), (6.041143, 7.080126), (2.882459, 3.518061),
                (4.266906, 5.178857), (9.041765, 10.66308))
TINY_IOU_THRESHOLD = 0.4
TINY_SCORE_THRESHOLD = 0.5
TINY_STRIDE = 32
LEAKY_ALPHA = 0.1


def conv_weight(filters: np.ndarray) -> np.ndarray:
    """TF conv filter ``[kh, kw, in, out]`` -> ONNX/torch ``[out, in, kh, kw]``."""
    return np.ascontiguousarray(filters.transpose(3, 2, 0, 1), dtype=np.float32)


def depthwise_weight(filters: np.ndarray) -> np.ndarray:
    """TF depthwise filter ``[kh, kw, c, 1]`` -> grouped conv ``[c, 1, kh, kw]``."""
    if filters.shape[3] != 1:
        raise ManifestError(f"depthwise multiplier {filters.shape[3]} != 1 is not supported")
    return np.ascontiguousarray(filters.transpose(2, 3, 0, 1), dtype=np.float32)


def _separable(weights: Mapping[str, np.ndarray], prefix: str, cin: int, cout: int,
               out_prefix: str | None = None) -> dict[str, np.ndarray]:
    key = out_prefix or prefix.replace("/", ".")
    return {
        f"{key}.depthwise.weight": depthwise_weight(
            require(weights, f"{prefix}/depthwise_filter", (3, 3, cin, 1))),
        f"{key}.pointwise.weight": conv_weight(
            require(weights, f"{prefix}/pointwise_filter", (1, 1, cin, cout))),
        f"{key}.pointwise.bias": require(weights, f"{prefix}/bias", (cout,)).astype(np.float32),
    }


def expression_params(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """FaceExpressionNet parameters keyed as the torch module's ``state_dict`` names them.

    Block ``b`` conv ``j``: ``dense{b}.conv{j}.{depthwise,pointwise}.*``; the very first conv is a
    plain 3x3 convolution ``dense0.conv0.{weight,bias}``; the classifier is ``fc.{weight,bias}``.
    """
    params: dict[str, np.ndarray] = {
        "dense0.conv0.weight": conv_weight(require(weights, "dense0/conv0/filters", (3, 3, 3, 32))),
        "dense0.conv0.bias": require(weights, "dense0/conv0/bias", (32,)).astype(np.float32),
    }
    cin = DENSE_CHANNELS[0]
    for b, cout in enumerate(DENSE_CHANNELS):
        for j in range(CONVS_PER_BLOCK):
            if b == 0 and j == 0:
                continue
            params.update(_separable(weights, f"dense{b}/conv{j}", cin if j == 0 else cout, cout))
        cin = cout
    n_cls = len(EXPRESSION_CLASSES)
    params["fc.weight"] = np.ascontiguousarray(
        require(weights, "fc/weights", (FEATURE_CHANNELS, n_cls)).T, dtype=np.float32)
    params["fc.bias"] = require(weights, "fc/bias", (n_cls,)).astype(np.float32)
    return params


def tiny_params(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """TinyFaceDetector parameters: ``conv0`` plain 3x3, ``conv1..5`` separable, ``conv8`` 1x1 head."""
    c = TINY_CHANNELS
    params = {
        "conv0.weight": conv_weight(require(weights, "conv0/filters", (3, 3, c[0], c[1]))),
        "conv0.bias": require(weights, "conv0/bias", (c[1],)).astype(np.float32),
    }
    for i in range(1, 6):
        params.update(_separable(weights, f"conv{i}", c[i], c[i + 1]))
    n_out = len(TINY_ANCHORS) * 5
    params["conv8.weight"] = conv_weight(require(weights, "conv8/filters", (1, 1, c[-1], n_out)))
    params["conv8.bias"] = require(weights, "conv8/bias", (n_out,)).astype(np.float32)
    return params

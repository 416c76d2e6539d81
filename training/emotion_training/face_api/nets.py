"""What face-api's networks are, as data: constants, and the weights in ONNX/PyTorch layout.

Read from the package's TypeScript (``src/faceFeatureExtractor``, ``src/faceExpressionNet``,
``src/tinyFaceDetector``, ``src/tinyYolov2``, ``src/faceLandmarkNet``, ``src/faceRecognitionNet``,
``src/ssdMobilenetv1``). Both the torch modules and the torch-free ONNX
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

# -- FaceLandmark68Net / FaceLandmark68TinyNet (the same dense feature extractor + fc to 136) ----
LANDMARK_MANIFEST = "face_landmark_68_model-weights_manifest.json"
LANDMARK_TINY_MANIFEST = "face_landmark_68_tiny_model-weights_manifest.json"
LANDMARK_POINTS = 68
LANDMARK_INPUT_SIZE = 112
LANDMARK_MEAN_RGB = EXPRESSION_MEAN_RGB
LANDMARK_TINY_CHANNELS = (32, 64, 128)

# -- FaceRecognitionNet (dlib's ResNet-34-like face descriptor, 128-d) ---------------------------
RECOGNITION_MANIFEST = "face_recognition_model-weights_manifest.json"
RECOGNITION_INPUT_SIZE = 150
RECOGNITION_MEAN_RGB = EXPRESSION_MEAN_RGB
RECOGNITION_DIM = 128
RECOGNITION_STEM_CHANNELS = 32
#: (name, output channels, down-sampling?) of the residual blocks, in order.
RECOGNITION_BLOCKS = (
    ("conv32_1", 32, False), ("conv32_2", 32, False), ("conv32_3", 32, False),
    ("conv64_down", 64, True), ("conv64_1", 64, False), ("conv64_2", 64, False), ("conv64_3", 64, False),
    ("conv128_down", 128, True), ("conv128_1", 128, False), ("conv128_2", 128, False),
    ("conv256_down", 256, True), ("conv256_1", 256, False), ("conv256_2", 256, False),
    ("conv256_down_out", 256, True),
)
#: face-api's threshold on the euclidean distance of two descriptors: below it, the same person.
RECOGNITION_SAME_PERSON_DISTANCE = 0.6

# -- SsdMobilenetv1 (MobileNetV1 backbone + SSD heads, one face class) ---------------------------
SSD_MANIFEST = "ssd_mobilenetv1_model-weights_manifest.json"
SSD_INPUT_SIZE = 512
#: Output channels of MobileNetV1 conv 0..13; depthwise convs 2, 4, 6 and 12 have stride 2.
SSD_MOBILENET_CHANNELS = (32, 64, 128, 128, 256, 256, 512, 512, 512, 512, 512, 512, 1024, 1024)
SSD_STRIDE2_LAYERS = (2, 4, 6, 12)
#: Extra feature layers: (kernel, stride, output channels).
SSD_PREDICTION_CONVS = ((1, 1, 256), (3, 2, 512), (1, 1, 128), (3, 2, 256), (1, 1, 128), (3, 2, 256),
                        (1, 1, 64), (3, 2, 128))
#: Input channels and anchors per cell of the six box predictors, which read (in this order)
#: MobileNet conv 11, MobileNet's output, and prediction convs 1, 3, 5, 7.
SSD_PREDICTOR_CHANNELS = (512, 1024, 512, 256, 256, 128)
SSD_ANCHORS_PER_CELL = (3, 6, 6, 6, 6, 6)
SSD_NUM_ANCHORS = 5118
SSD_BN_EPSILON = 0.0010000000474974513
SSD_SCORE_THRESHOLD = 0.5
SSD_IOU_THRESHOLD = 0.5
SSD_MAX_RESULTS = 100


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


def dense_params(weights: Mapping[str, np.ndarray], channels: tuple[int, ...],
                 convs_per_block: int) -> dict[str, np.ndarray]:
    """Parameters of face-api's dense-block feature extractor, keyed ``dense{b}.conv{j}.*``.

    Block ``b`` conv ``j`` is separable, except the very first conv, a plain 3x3 convolution
    ``dense0.conv0.{weight,bias}``. FaceExpressionNet and FaceLandmark68Net use four blocks of
    four convs; FaceLandmark68TinyNet three blocks of three.
    """
    params: dict[str, np.ndarray] = {
        "dense0.conv0.weight": conv_weight(require(weights, "dense0/conv0/filters", (3, 3, 3, channels[0]))),
        "dense0.conv0.bias": require(weights, "dense0/conv0/bias", (channels[0],)).astype(np.float32),
    }
    cin = channels[0]
    for b, cout in enumerate(channels):
        for j in range(convs_per_block):
            if b == 0 and j == 0:
                continue
            params.update(_separable(weights, f"dense{b}/conv{j}", cin if j == 0 else cout, cout))
        cin = cout
    return params


def fc_params(weights: Mapping[str, np.ndarray], cin: int, cout: int) -> dict[str, np.ndarray]:
    """The ``fc`` classifier as ``fc.weight`` ``[out, in]`` and ``fc.bias``."""
    return {
        "fc.weight": np.ascontiguousarray(require(weights, "fc/weights", (cin, cout)).T, dtype=np.float32),
        "fc.bias": require(weights, "fc/bias", (cout,)).astype(np.float32),
    }


def expression_params(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """FaceExpressionNet parameters keyed as the torch module's ``state_dict`` names them
    (``dense_params`` names, plus ``fc.{weight,bias}``)."""
    params = dense_params(weights, DENSE_CHANNELS, CONVS_PER_BLOCK)
    params.update(fc_params(weights, FEATURE_CHANNELS, len(EXPRESSION_CLASSES)))
    return params


def landmark_params(weights: Mapping[str, np.ndarray], tiny: bool) -> dict[str, np.ndarray]:
    """FaceLandmark68Net (``tiny=False``) or FaceLandmark68TinyNet parameters."""
    channels, convs = (LANDMARK_TINY_CHANNELS, 3) if tiny else (DENSE_CHANNELS, CONVS_PER_BLOCK)
    params = dense_params(weights, channels, convs)
    params.update(fc_params(weights, channels[-1], 2 * LANDMARK_POINTS))
    return params


def recognition_params(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """FaceRecognitionNet parameters, each conv's per-channel scale layer folded into it
    (``conv(x) * s + t`` == ``conv'(x)`` with ``W' = W * s``, ``b' = b * s + t``).

    Keys: ``{layer}.weight`` / ``{layer}.bias`` for ``conv32_down`` and ``{block}.conv{1,2}``;
    ``fc.weight`` ``[128, 256]`` (no bias).
    """
    params: dict[str, np.ndarray] = {}

    def conv(prefix: str, kernel: int, cin: int, cout: int) -> None:
        filters = require(weights, f"{prefix}/conv/filters", (kernel, kernel, cin, cout)).astype(np.float64)
        bias = require(weights, f"{prefix}/conv/bias", (cout,)).astype(np.float64)
        scale = require(weights, f"{prefix}/scale/weights", (cout,)).astype(np.float64)
        shift = require(weights, f"{prefix}/scale/biases", (cout,)).astype(np.float64)
        key = prefix.replace("/", ".")
        params[f"{key}.weight"] = conv_weight((filters * scale).astype(np.float32))
        params[f"{key}.bias"] = (bias * scale + shift).astype(np.float32)

    conv("conv32_down", 7, 3, RECOGNITION_STEM_CHANNELS)
    cin = RECOGNITION_STEM_CHANNELS
    for name, cout, _ in RECOGNITION_BLOCKS:
        conv(f"{name}/conv1", 3, cin, cout)
        conv(f"{name}/conv2", 3, cout, cout)
        cin = cout
    params["fc.weight"] = np.ascontiguousarray(
        require(weights, "fc", (cin, RECOGNITION_DIM)).T, dtype=np.float32)
    return params


def ssd_params(weights: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """SsdMobilenetv1 parameters.

    - ``mobilenet.conv0`` (3x3, stride 2) and ``mobilenet.conv{i}.pointwise``: weight + bias (the
      folded batch-norm offset);
    - ``mobilenet.conv{i}.depthwise.weight`` and its batch norm ``...depthwise.bn_{scale,offset,mean,var}``;
    - ``prediction.conv{i}``: weight + bias; ``box{i}.{encoding,cls}``: 1x1 predictors;
    - ``anchors``: ``[5118, 4]`` (ymin, xmin, ymax, xmax) relative to the padded square.
    """
    params: dict[str, np.ndarray] = {}

    def pointwise(prefix: str, key: str, kernel: int, cin: int, cout: int) -> None:
        params[f"{key}.weight"] = conv_weight(require(weights, f"{prefix}/weights", (kernel, kernel, cin, cout)))
        params[f"{key}.bias"] = require(weights, f"{prefix}/convolution_bn_offset", (cout,)).astype(np.float32)

    pointwise("MobilenetV1/Conv2d_0_pointwise", "mobilenet.conv0", 3, 3, SSD_MOBILENET_CHANNELS[0])
    for i in range(1, len(SSD_MOBILENET_CHANNELS)):
        cin, cout = SSD_MOBILENET_CHANNELS[i - 1], SSD_MOBILENET_CHANNELS[i]
        dw = f"MobilenetV1/Conv2d_{i}_depthwise"
        key = f"mobilenet.conv{i}.depthwise"
        params[f"{key}.weight"] = depthwise_weight(require(weights, f"{dw}/depthwise_weights", (3, 3, cin, 1)))
        for ours, theirs in (("bn_scale", "gamma"), ("bn_offset", "beta"), ("bn_mean", "moving_mean"),
                             ("bn_var", "moving_variance")):
            params[f"{key}.{ours}"] = require(weights, f"{dw}/BatchNorm/{theirs}", (cin,)).astype(np.float32)
        pointwise(f"MobilenetV1/Conv2d_{i}_pointwise", f"mobilenet.conv{i}.pointwise", 1, cin, cout)
    cin = SSD_MOBILENET_CHANNELS[-1]
    for i, (kernel, _, cout) in enumerate(SSD_PREDICTION_CONVS):
        pointwise(f"Prediction/Conv2d_{i}_pointwise", f"prediction.conv{i}", kernel, cin, cout)
        cin = cout
    for i, (cin, anchors) in enumerate(zip(SSD_PREDICTOR_CHANNELS, SSD_ANCHORS_PER_CELL)):
        for ours, theirs, per_anchor in (("encoding", "BoxEncodingPredictor", 4), ("cls", "ClassPredictor", 3)):
            prefix = f"Prediction/BoxPredictor_{i}/{theirs}"
            cout = anchors * per_anchor
            params[f"box{i}.{ours}.weight"] = conv_weight(require(weights, f"{prefix}/weights", (1, 1, cin, cout)))
            params[f"box{i}.{ours}.bias"] = require(weights, f"{prefix}/biases", (cout,)).astype(np.float32)
    params["anchors"] = require(weights, "Output/extra_dim", (1, SSD_NUM_ANCHORS, 4))[0].astype(np.float32)
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

"""Build the face-api networks as ONNX straight from their TF.js weights: numpy + onnx only.

Torch-free on purpose: the setup builds the default model the node loads, and the robot (or a
fresh checkout) must not need torch for that. ``torch_model`` re-implements the same networks for
training; the tests hold the two, and the original JS library, to the same outputs.
"""
from __future__ import annotations

import json
from typing import Mapping

import numpy as np

from emotion_core.contract import INPUT_FACE, OUTPUT_LOGITS, FaceSpec, ModelContract, write_onnx_contract
from emotion_core.labels import canonical

from .nets import (CONVS_PER_BLOCK, DENSE_CHANNELS, EXPRESSION_CLASSES, EXPRESSION_INPUT_SIZE,
                   EXPRESSION_MEAN_RGB, LANDMARK_INPUT_SIZE, LANDMARK_MEAN_RGB, LANDMARK_POINTS,
                   LANDMARK_TINY_CHANNELS, LEAKY_ALPHA, PACKAGE_COPYRIGHT, PACKAGE_LICENSE, PACKAGE_NAME,
                   PACKAGE_VERSION, RECOGNITION_BLOCKS, RECOGNITION_DIM, RECOGNITION_INPUT_SIZE,
                   RECOGNITION_MEAN_RGB, RECOGNITION_SAME_PERSON_DISTANCE, SSD_BN_EPSILON,
                   SSD_INPUT_SIZE, SSD_IOU_THRESHOLD, SSD_MAX_RESULTS,
                   SSD_MOBILENET_CHANNELS, SSD_NUM_ANCHORS, SSD_PREDICTION_CONVS, SSD_SCORE_THRESHOLD,
                   SSD_STRIDE2_LAYERS, TINY_ANCHORS, TINY_IOU_THRESHOLD, TINY_MEAN_RGB,
                   TINY_SCORE_THRESHOLD, TINY_STRIDE, expression_params, landmark_params,
                   recognition_params, ssd_params, tiny_params)

OPSET = 17
IR_VERSION = 8
#: ``metadata_props`` key holding the detector's decoding parameters (JSON).
DETECTOR_KEY = "face_detector"
DETECTOR_INPUT = "image"
DETECTOR_OUTPUT = "grid"
#: ``metadata_props`` keys of the face landmark and face descriptor models (JSON).
LANDMARKS_KEY = "face_landmarks"
DESCRIPTOR_KEY = "face_descriptor"
FACE_INPUT = "face"
LANDMARKS_OUTPUT = "landmarks"
DESCRIPTOR_OUTPUT = "descriptor"
SSD_BOXES_OUTPUT = "boxes"
SSD_SCORES_OUTPUT = "scores"
#: How the landmark / descriptor nets want a face, as face-api crops it (``emotion_core.face_onnx.face_patch``).
FACE_INPUT_FORMAT = ("NCHW float32 RGB 0..255: the face box clipped to the image, padded with black to a "
                     "centred square, bilinearly resized (no half-pixel offset) to input_size")
#: Defaults of the tiny detector at run time, chosen from scripts/bench_face_stack.py: at 416 px
#: and 0.4 it finds all 21 demo faces (face-api's own 0.5 finds 19); 512 px costs 1.5x the time.
TINY_DEFAULT_INPUT_SIZE = 416
TINY_DEFAULT_SCORE_THRESHOLD = 0.4
LICENSE_NOTE = (f"{PACKAGE_LICENSE}, {PACKAGE_COPYRIGHT}; notice kept in "
                "training/emotion_training/face_api/LICENSE-face-api.txt")


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TF 'SAME' padding (before, after) of one axis: the odd pixel goes after (bottom/right)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class _GraphBuilder:
    """Collects nodes and initializers; each method returns the name of its output."""

    def __init__(self, params: Mapping[str, np.ndarray]) -> None:
        self.params = params
        self.nodes: list = []
        self.inits: list = []
        self._n = 0

    def _name(self, base: str) -> str:
        self._n += 1
        return f"{base}_{self._n}"

    def const(self, name: str, value: np.ndarray) -> str:
        from onnx import numpy_helper

        self.inits.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], base: str | None = None, out: str | None = None,
           **attrs) -> str:
        """Append a node; its output is ``out`` (a graph output) or a fresh name from ``base``."""
        from onnx import helper

        out = out or self._name(base or op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [out], **attrs))
        return out

    def conv(self, x: str, key: str, stride: int = 1, pads: tuple[int, int, int, int] = (0, 0, 0, 0),
             group: int = 1, bias: bool = True, out: str | None = None) -> str:
        """``pads`` as ONNX orders them: top, left, bottom, right."""
        weight = self.params[f"{key}.weight"]
        inputs = [x, self.const(f"{key}.weight", weight)]
        if bias:
            inputs.append(self.const(f"{key}.bias", self.params[f"{key}.bias"]))
        return self.op("Conv", inputs, key.replace(".", "_"), out, kernel_shape=list(weight.shape[2:]),
                       strides=[stride, stride], pads=list(pads), group=group)

    def separable(self, x: str, key: str, stride: int, pads: tuple[int, int, int, int]) -> str:
        """TF separableConv2d: depthwise (no bias) then pointwise with the layer's bias."""
        channels = self.params[f"{key}.depthwise.weight"].shape[0]
        dw = self.conv(x, f"{key}.depthwise", stride, pads, group=channels, bias=False)
        return self.conv(dw, f"{key}.pointwise")

    def add(self, *xs: str) -> str:
        """Right-nested sum ``a + (b + (c + d))``, the order face-api adds its residuals."""
        acc = xs[-1]
        for x in reversed(xs[:-1]):
            acc = self.op("Add", [x, acc])
        return acc

    def model(self, graph_name: str, inputs: list, outputs: list, producer: str):
        import onnx
        from onnx import helper

        graph = helper.make_graph(self.nodes, graph_name, inputs, outputs, initializer=self.inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name=producer, producer_version=PACKAGE_VERSION)
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model


def _dense_features(g: _GraphBuilder, x: str, size: int, blocks: int, convs: int) -> str:
    """face-api's dense-block feature extractor (``denseBlock4`` / ``denseBlock3``)."""
    for b in range(blocks):
        before, after = same_pads(size, 3, 2)
        down = (before, before, after, after)
        if b == 0:
            out1 = g.op("Relu", [g.conv(x, "dense0.conv0", 2, down)])
        else:
            out1 = g.op("Relu", [g.separable(x, f"dense{b}.conv0", 2, down)])
        size = -(-size // 2)
        outs = [out1]
        for j in range(1, convs):
            inp = outs[0] if j == 1 else g.op("Relu", [g.add(*outs)])
            outs.append(g.separable(inp, f"dense{b}.conv{j}", 1, (1, 1, 1, 1)))
        x = g.op("Relu", [g.add(*outs)], f"dense{b}_out")
    return x


def expression_contract() -> ModelContract:
    """The contract of the face-only FaceExpressionNet model (preprocessing exactly as face-api)."""
    return ModelContract(
        labels=tuple(canonical(c) for c in EXPRESSION_CLASSES),
        modalities=("face",),
        face=FaceSpec(size=EXPRESSION_INPUT_SIZE, mean=EXPRESSION_MEAN_RGB, std=(255.0, 255.0, 255.0),
                      channel_order="RGB", margin=0.0, pad_square=True),
        name="face-api-expression",
        model_version=PACKAGE_VERSION,
        provenance={
            "source": f"npm {PACKAGE_NAME}@{PACKAGE_VERSION} model/face_expression_model (TF.js, uint8-quantised)",
            "license": LICENSE_NOTE,
            "original_labels": ",".join(EXPRESSION_CLASSES),
            "builder": "emotion_training.face_api.onnx_build",
            "notes": "face only: no speech-emotion model ships offline",
        },
    ).validate()


def build_expression_onnx(weights: Mapping[str, np.ndarray]):
    """FaceExpressionNet as an ``onnx.ModelProto``: ``face`` [N,3,112,112] -> ``logits`` [N,7]."""
    from onnx import TensorProto, helper

    g = _GraphBuilder(expression_params(weights))
    x = _dense_features(g, INPUT_FACE, EXPRESSION_INPUT_SIZE, len(DENSE_CHANNELS), CONVS_PER_BLOCK)
    # face-api: avgPool 7x7 'valid' over the 7x7 map, i.e. a global average.
    pooled = g.op("GlobalAveragePool", [x], "pool")
    embedding = g.op("Flatten", [pooled], "embedding", axis=1)
    fc = [g.const(f"fc.{k}", g.params[f"fc.{k}"]) for k in ("weight", "bias")]
    g.op("Gemm", [embedding, *fc], out=OUTPUT_LOGITS, transB=1)
    f32 = TensorProto.FLOAT
    n_cls = len(EXPRESSION_CLASSES)
    model = g.model(
        "face_api_expression",
        [helper.make_tensor_value_info(INPUT_FACE, f32, ["N", 3, EXPRESSION_INPUT_SIZE, EXPRESSION_INPUT_SIZE])],
        [helper.make_tensor_value_info(OUTPUT_LOGITS, f32, ["N", n_cls])],
        "emotion_training.face_api.onnx_build")
    write_onnx_contract(model, expression_contract())
    return model


def detector_metadata(input_size: int = TINY_DEFAULT_INPUT_SIZE,
                      score_threshold: float = TINY_DEFAULT_SCORE_THRESHOLD) -> dict:
    """What ``emotion_core.face_onnx`` needs to feed the detector and decode its grid."""
    return {
        "kind": "tiny_yolov2",
        "input": DETECTOR_INPUT,
        "output": DETECTOR_OUTPUT,
        "input_format": "NCHW float32 RGB 0..255; image padded bottom/right to a square, then "
                        "bilinearly resized (no half-pixel offset) to input_size x input_size",
        "input_size": input_size,
        "stride": TINY_STRIDE,
        "anchors": [list(a) for a in TINY_ANCHORS],
        "box_encoding": "per anchor: tx, ty, tw, th, objectness (channel = anchor * 5 + k)",
        "score_threshold": score_threshold,
        "face_api_score_threshold": TINY_SCORE_THRESHOLD,
        "iou_threshold": TINY_IOU_THRESHOLD,
        "source": f"npm {PACKAGE_NAME}@{PACKAGE_VERSION} model/tiny_face_detector_model",
        "license": LICENSE_NOTE,
    }


def build_tiny_detector_onnx(weights: Mapping[str, np.ndarray], input_size: int = TINY_DEFAULT_INPUT_SIZE):
    """TinyFaceDetector as ONNX: ``image`` [N,3,S,S] (S a multiple of 32) -> ``grid`` [N,25,S/32,S/32].

    Normalisation is inside the graph (it is the detector's own business, not a model contract);
    box decoding and NMS are left to numpy in ``emotion_core.face_onnx``.
    """
    from onnx import TensorProto, helper

    g = _GraphBuilder(tiny_params(weights))
    mean = np.asarray(TINY_MEAN_RGB, np.float32).reshape(1, 3, 1, 1)
    x = g.op("Sub", [DETECTOR_INPUT, g.const("mean_rgb", mean)])
    x = g.op("Div", [x, g.const("scale", np.asarray(255.0, np.float32))])
    x = g.op("LeakyRelu", [g.conv(x, "conv0")], alpha=LEAKY_ALPHA)  # 'valid', no padding
    for i in range(1, 6):
        x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_UPPER")
        x = g.op("LeakyRelu", [g.separable(x, f"conv{i}", 1, (1, 1, 1, 1))], alpha=LEAKY_ALPHA)
    x = g.op("MaxPool", [x], kernel_shape=[2, 2], strides=[1, 1], auto_pad="SAME_UPPER")
    g.conv(x, "conv8", out=DETECTOR_OUTPUT)
    f32 = TensorProto.FLOAT
    model = g.model(
        "face_api_tiny_face_detector",
        [helper.make_tensor_value_info(DETECTOR_INPUT, f32, ["N", 3, "S", "S"])],
        [helper.make_tensor_value_info(DETECTOR_OUTPUT, f32, ["N", len(TINY_ANCHORS) * 5, "G", "G"])],
        "emotion_training.face_api.onnx_build")
    entry = model.metadata_props.add()
    entry.key = DETECTOR_KEY
    entry.value = json.dumps(detector_metadata(input_size), sort_keys=True)
    return model


def _set_metadata(model, key: str, value: dict) -> None:
    entry = model.metadata_props.add()
    entry.key = key
    entry.value = json.dumps(value, sort_keys=True)


def _normalise(g: _GraphBuilder, x: str, mean_rgb: tuple[float, float, float]) -> str:
    """face-api's ``normalize(x, mean).div(255)`` inside the graph."""
    mean = np.asarray(mean_rgb, np.float32).reshape(1, 3, 1, 1)
    x = g.op("Sub", [x, g.const("mean_rgb", mean)])
    return g.op("Div", [x, g.const("scale", np.asarray(255.0, np.float32))])


def landmarks_metadata(tiny: bool) -> dict:
    """What ``emotion_core.face_landmarks`` needs to feed the landmark net and read its output."""
    name = "face_landmark_68_tiny_model" if tiny else "face_landmark_68_model"
    return {
        "kind": "face_landmark_68_tiny" if tiny else "face_landmark_68",
        "input": FACE_INPUT, "output": LANDMARKS_OUTPUT,
        "input_format": FACE_INPUT_FORMAT,
        "input_size": LANDMARK_INPUT_SIZE,
        "points": LANDMARK_POINTS,
        "output_format": "x0, y0, x1, y1, ... relative to the padded square (0..1)",
        "source": f"npm {PACKAGE_NAME}@{PACKAGE_VERSION} model/{name}",
        "license": LICENSE_NOTE,
    }


def build_landmark_onnx(weights: Mapping[str, np.ndarray], tiny: bool = False):
    """FaceLandmark68Net (or its tiny variant) as ONNX: ``face`` [N,3,112,112] RGB 0..255 ->
    ``landmarks`` [N,136], 68 (x, y) pairs relative to the input square.

    Normalisation is in the graph; cropping and mapping back to image pixels are in
    ``emotion_core.face_landmarks``.
    """
    from onnx import TensorProto, helper

    g = _GraphBuilder(landmark_params(weights, tiny))
    x = _normalise(g, FACE_INPUT, LANDMARK_MEAN_RGB)
    if tiny:
        x = _dense_features(g, x, LANDMARK_INPUT_SIZE, len(LANDMARK_TINY_CHANNELS), 3)
    else:
        x = _dense_features(g, x, LANDMARK_INPUT_SIZE, len(DENSE_CHANNELS), CONVS_PER_BLOCK)
    # face-api: avgPool over the whole 7x7 (14x14 for tiny) map, then fc.
    embedding = g.op("Flatten", [g.op("GlobalAveragePool", [x], "pool")], "embedding", axis=1)
    fc = [g.const(f"fc.{k}", g.params[f"fc.{k}"]) for k in ("weight", "bias")]
    g.op("Gemm", [embedding, *fc], out=LANDMARKS_OUTPUT, transB=1)
    f32 = TensorProto.FLOAT
    size = LANDMARK_INPUT_SIZE
    model = g.model(
        "face_api_landmark_68" + ("_tiny" if tiny else ""),
        [helper.make_tensor_value_info(FACE_INPUT, f32, ["N", 3, size, size])],
        [helper.make_tensor_value_info(LANDMARKS_OUTPUT, f32, ["N", 2 * LANDMARK_POINTS])],
        "emotion_training.face_api.onnx_build")
    _set_metadata(model, LANDMARKS_KEY, landmarks_metadata(tiny))
    return model


def descriptor_metadata() -> dict:
    """What ``emotion_core.face_descriptor`` needs, and face-api's distance convention."""
    return {
        "kind": "face_recognition",
        "input": FACE_INPUT, "output": DESCRIPTOR_OUTPUT,
        "input_format": FACE_INPUT_FORMAT,
        "input_size": RECOGNITION_INPUT_SIZE,
        "dim": RECOGNITION_DIM,
        "output_format": "raw descriptor (not normalised), as face-api computes it",
        "distance": "euclidean",
        "same_person_distance": RECOGNITION_SAME_PERSON_DISTANCE,
        "alignment": "face-api crops the box from landmarks (FaceLandmarks.align, dlib alignment)",
        "source": f"npm {PACKAGE_NAME}@{PACKAGE_VERSION} model/face_recognition_model",
        "license": LICENSE_NOTE,
    }


def build_recognition_onnx(weights: Mapping[str, np.ndarray]):
    """FaceRecognitionNet as ONNX: ``face`` [N,3,150,150] RGB 0..255 -> ``descriptor`` [N,128].

    A ResNet: 7x7/2 stem, 3x3/2 max pool, residual blocks; a down-sampling block adds its input
    average-pooled 2x2 and zero-padded to the new channel count, and zero-pads its own output by
    one row/column at the bottom/right where the 'valid' strided conv came out one smaller.
    """
    from onnx import TensorProto, helper

    g = _GraphBuilder(recognition_params(weights))
    x = _normalise(g, FACE_INPUT, RECOGNITION_MEAN_RGB)
    x = g.op("Relu", [g.conv(x, "conv32_down", stride=2)])  # 'valid'
    size = (RECOGNITION_INPUT_SIZE - 7) // 2 + 1
    x = g.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2])  # 'valid'
    size = (size - 3) // 2 + 1
    channels = 32
    for name, cout, down in RECOGNITION_BLOCKS:
        if down:
            out = g.op("Relu", [g.conv(x, f"{name}.conv1", stride=2)])
            conv_size = (size - 3) // 2 + 1
            out = g.conv(out, f"{name}.conv2", pads=(1, 1, 1, 1))
            pooled = g.op("AveragePool", [x], kernel_shape=[2, 2], strides=[2, 2])
            size = size // 2
            if conv_size != size:  # face-api concatenates a zero row and column
                pad = np.asarray([0, 0, 0, 0, 0, 0, size - conv_size, size - conv_size], np.int64)
                out = g.op("Pad", [out, g.const(f"{name}.pad_hw", pad)])
            if cout != channels:  # and zero channels to the shortcut
                pad = np.asarray([0, 0, 0, 0, 0, cout - channels, 0, 0], np.int64)
                pooled = g.op("Pad", [pooled, g.const(f"{name}.pad_c", pad)])
            x = g.op("Relu", [g.op("Add", [pooled, out])])
        else:
            out = g.op("Relu", [g.conv(x, f"{name}.conv1", pads=(1, 1, 1, 1))])
            out = g.conv(out, f"{name}.conv2", pads=(1, 1, 1, 1))
            x = g.op("Relu", [g.op("Add", [out, x])])
        channels = cout
    embedding = g.op("Flatten", [g.op("GlobalAveragePool", [x], "pool")], "embedding", axis=1)
    fc = g.const("fc.weight_t", np.ascontiguousarray(g.params["fc.weight"].T))
    g.op("MatMul", [embedding, fc], out=DESCRIPTOR_OUTPUT)
    f32 = TensorProto.FLOAT
    size = RECOGNITION_INPUT_SIZE
    model = g.model(
        "face_api_face_recognition",
        [helper.make_tensor_value_info(FACE_INPUT, f32, ["N", 3, size, size])],
        [helper.make_tensor_value_info(DESCRIPTOR_OUTPUT, f32, ["N", RECOGNITION_DIM])],
        "emotion_training.face_api.onnx_build")
    _set_metadata(model, DESCRIPTOR_KEY, descriptor_metadata())
    return model


def ssd_metadata() -> dict:
    """What ``emotion_core.face_ssd`` needs to feed the SSD detector and read its boxes."""
    return {
        "kind": "ssd_mobilenetv1",
        "input": DETECTOR_INPUT,
        "outputs": [SSD_BOXES_OUTPUT, SSD_SCORES_OUTPUT],
        "input_format": "NCHW float32 RGB 0..255; image padded bottom/right to a square, then "
                        "bilinearly resized (no half-pixel offset) to input_size x input_size",
        "input_size": SSD_INPUT_SIZE,
        "box_format": "ymin, xmin, ymax, xmax relative to the padded square, decoded, not clipped",
        "score_threshold": SSD_SCORE_THRESHOLD,
        "iou_threshold": SSD_IOU_THRESHOLD,
        "max_results": SSD_MAX_RESULTS,
        "source": f"npm {PACKAGE_NAME}@{PACKAGE_VERSION} model/ssd_mobilenetv1_model",
        "license": LICENSE_NOTE,
    }


def build_ssd_onnx(weights: Mapping[str, np.ndarray]):
    """SsdMobilenetv1 as ONNX: ``image`` [N,3,512,512] RGB 0..255 -> ``boxes`` [N,5118,4]
    (decoded against the anchors) and ``scores`` [N,5118] (sigmoid of the face class).

    Non-maximum suppression and the mapping to image pixels are in ``emotion_core.face_ssd``.
    """
    from onnx import TensorProto, helper

    g = _GraphBuilder(ssd_params(weights))
    zero = g.const("relu6_min", np.asarray(0.0, np.float32))
    six = g.const("relu6_max", np.asarray(6.0, np.float32))
    size = SSD_INPUT_SIZE

    def padding(kernel: int, stride: int) -> tuple[int, int, int, int]:
        before, after = same_pads(size, kernel, stride)
        return before, before, after, after

    def pointwise(x: str, key: str, stride: int) -> str:
        """face-api's pointwiseConvLayer: conv 'same' + offset, ReLU6."""
        nonlocal size
        kernel = g.params[f"{key}.weight"].shape[-1]
        out = g.conv(x, key, stride, padding(kernel, stride))
        size = -(-size // stride)
        return g.op("Clip", [out, zero, six])

    x = g.op("Sub", [g.op("Div", [DETECTOR_INPUT, g.const("half_range", np.asarray(127.5, np.float32))]),
                     g.const("one", np.asarray(1.0, np.float32))])
    x = pointwise(x, "mobilenet.conv0", 2)
    conv11 = x
    for i in range(1, len(SSD_MOBILENET_CHANNELS)):
        key = f"mobilenet.conv{i}.depthwise"
        stride = 2 if i in SSD_STRIDE2_LAYERS else 1
        x = g.conv(x, key, stride, padding(3, stride), group=SSD_MOBILENET_CHANNELS[i - 1], bias=False)
        size = -(-size // stride)
        bn = [g.const(f"{key}.{k}", g.params[f"{key}.{k}"]) for k in ("bn_scale", "bn_offset", "bn_mean", "bn_var")]
        x = g.op("Clip", [g.op("BatchNormalization", [x, *bn], epsilon=SSD_BN_EPSILON), zero, six])
        x = pointwise(x, f"mobilenet.conv{i}.pointwise", 1)
        if i == 11:
            conv11 = x
    features = [conv11, x]
    for i, (_, stride, _) in enumerate(SSD_PREDICTION_CONVS):
        x = pointwise(x, f"prediction.conv{i}", stride)
        if i % 2 == 1:
            features.append(x)
    encodings, classes = [], []
    for i, feature in enumerate(features):
        for key, per_anchor, into in (("encoding", 4, encodings), ("cls", 3, classes)):
            out = g.op("Transpose", [g.conv(feature, f"box{i}.{key}")], perm=[0, 2, 3, 1])  # NHWC order
            shape = g.const(f"box{i}.{key}.shape", np.asarray([0, -1, per_anchor], np.int64))
            into.append(g.op("Reshape", [out, shape]))
    encoding = g.op("Concat", encodings, axis=1)  # [N, 5118, 4]: ty, tx, th, tw
    logits = g.op("Concat", classes, axis=1)  # [N, 5118, 3]
    # Anchors as face-api decodes them (float32 arithmetic, same order of operations).
    anchors = g.params["anchors"]
    anchor_size = (anchors[:, 2:4] - anchors[:, 0:2]).astype(np.float32)
    anchor_centre = (anchors[:, 0:2] + anchor_size / np.float32(2)).astype(np.float32)
    t_centre = g.op("Slice", [encoding, g.const("s0", np.asarray([0], np.int64)),
                              g.const("s2", np.asarray([2], np.int64)), g.const("s_axis", np.asarray([2], np.int64))])
    t_size = g.op("Slice", [encoding, "s2", g.const("s4", np.asarray([4], np.int64)), "s_axis"])
    size_c = g.const("anchor_size", anchor_size[None])
    centre = g.op("Add", [g.op("Mul", [g.op("Div", [t_centre, g.const("ten", np.asarray(10.0, np.float32))]), size_c]),
                          g.const("anchor_centre", anchor_centre[None])])
    half = g.op("Div", [g.op("Mul", [g.op("Exp", [g.op("Div", [t_size, g.const("five", np.asarray(5.0, np.float32))])]),
                                     size_c]), g.const("two", np.asarray(2.0, np.float32))])
    g.op("Concat", [g.op("Sub", [centre, half]), g.op("Add", [centre, half])], out=SSD_BOXES_OUTPUT, axis=2)
    face_logit = g.op("Gather", [logits, g.const("face_class", np.asarray(1, np.int64))], axis=2)
    g.op("Sigmoid", [face_logit], out=SSD_SCORES_OUTPUT)
    f32 = TensorProto.FLOAT
    model = g.model(
        "face_api_ssd_mobilenetv1",
        [helper.make_tensor_value_info(DETECTOR_INPUT, f32, ["N", 3, SSD_INPUT_SIZE, SSD_INPUT_SIZE])],
        [helper.make_tensor_value_info(SSD_BOXES_OUTPUT, f32, ["N", SSD_NUM_ANCHORS, 4]),
         helper.make_tensor_value_info(SSD_SCORES_OUTPUT, f32, ["N", SSD_NUM_ANCHORS])],
        "emotion_training.face_api.onnx_build")
    _set_metadata(model, DETECTOR_KEY, ssd_metadata())
    return model

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
                   EXPRESSION_MEAN_RGB, LEAKY_ALPHA, PACKAGE_COPYRIGHT, PACKAGE_LICENSE, PACKAGE_NAME,
                   PACKAGE_VERSION, TINY_ANCHORS, TINY_IOU_THRESHOLD, TINY_MEAN_RGB,
                   TINY_SCORE_THRESHOLD, TINY_STRIDE, expression_params, tiny_params)

OPSET = 17
IR_VERSION = 8
#: ``metadata_props`` key holding the detector's decoding parameters (JSON).
DETECTOR_KEY = "face_detector"
DETECTOR_INPUT = "image"
DETECTOR_OUTPUT = "grid"
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

    size = EXPRESSION_INPUT_SIZE
    g = _GraphBuilder(expression_params(weights))
    x = INPUT_FACE
    for b in range(len(DENSE_CHANNELS)):
        before, after = same_pads(size, 3, 2)
        down = (before, before, after, after)
        if b == 0:
            out1 = g.op("Relu", [g.conv(x, "dense0.conv0", 2, down)])
        else:
            out1 = g.op("Relu", [g.separable(x, f"dense{b}.conv0", 2, down)])
        size = -(-size // 2)
        outs = [out1]
        for j in range(1, CONVS_PER_BLOCK):
            inp = outs[0] if j == 1 else g.op("Relu", [g.add(*outs)])
            outs.append(g.separable(inp, f"dense{b}.conv{j}", 1, (1, 1, 1, 1)))
        x = g.op("Relu", [g.add(*outs)], f"dense{b}_out")
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

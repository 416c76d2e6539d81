"""A small, untrained but real fusion model in ONNX, built without torch.

It has the exact I/O of the trained fusion models (face crop + log-mel + modality mask in;
fused logits, per-branch logits and fusion weights out) and carries a full contract, so the
whole graph can be built, tested and benchmarked before any training. Its predictions mean
nothing: the contract's provenance says so.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from ..contract import (INPUT_AUDIO, INPUT_FACE, INPUT_MASK, OUTPUT_AUDIO_LOGITS,
                        OUTPUT_FACE_LOGITS, OUTPUT_LOGITS, OUTPUT_WEIGHTS, AudioSpec, FaceSpec,
                        ModelContract, write_onnx_contract)
from ..labels import EKMAN7

OPSET = 17


def sample_contract(labels=EKMAN7) -> ModelContract:
    return ModelContract(
        labels=tuple(labels),
        modalities=("face", "audio"),
        face=FaceSpec(size=64, mean=(123.675, 116.28, 103.53), std=(58.395, 57.12, 57.375)),
        # log-mel power of speech spans roughly -14..4: centre and scale it like a trained model would
        audio=AudioSpec(norm_mean=-7.0, norm_std=4.0),
        name="sample-fusion-untrained",
        model_version="0.2.0",
        outputs={"logits": OUTPUT_LOGITS, "face_logits": OUTPUT_FACE_LOGITS,
                 "audio_logits": OUTPUT_AUDIO_LOGITS, "fusion_weights": OUTPUT_WEIGHTS},
        provenance={"training": "none: random weights (seed 0) for plumbing tests and benchmarks",
                    "license": "Apache-2.0"},
    ).validate()


def build_sample_model(contract: ModelContract | None = None, width: int = 32, seed: int = 0):
    """The ONNX ModelProto: two conv branches, per-branch heads, masked softmax fusion."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    contract = contract or sample_contract()
    rng = np.random.default_rng(seed)
    n_cls = len(contract.labels)
    face, audio = contract.face, contract.audio
    assert face is not None and audio is not None
    inits = []

    def weight(name: str, *shape: int) -> str:
        # Conv weights are (out, in, k, k); Gemm weights are (in, out); biases start at zero.
        fan_in = int(np.prod(shape[1:])) if len(shape) == 4 else shape[0]
        if len(shape) == 1:
            inits.append(numpy_helper.from_array(np.zeros(shape, np.float32), name))
            return name
        arr = rng.normal(0, 1.0 / np.sqrt(fan_in), size=shape).astype(np.float32)
        inits.append(numpy_helper.from_array(arr, name))
        return name

    def const(name: str, arr: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(arr, name))
        return name

    nodes = []
    for branch, src, cin in (("f", INPUT_FACE, 3), ("a", INPUT_AUDIO, 1)):
        nodes += [
            helper.make_node("Conv", [src, weight(f"{branch}_w1", 16, cin, 3, 3), weight(f"{branch}_b1", 16)],
                             [f"{branch}_c1"], strides=[2, 2], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"{branch}_c1"], [f"{branch}_r1"]),
            helper.make_node("Conv", [f"{branch}_r1", weight(f"{branch}_w2", width, 16, 3, 3),
                                      weight(f"{branch}_b2", width)],
                             [f"{branch}_c2"], strides=[2, 2], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", [f"{branch}_c2"], [f"{branch}_r2"]),
            helper.make_node("GlobalAveragePool", [f"{branch}_r2"], [f"{branch}_gap"]),
            helper.make_node("Flatten", [f"{branch}_gap"], [f"{branch}_emb"]),
            helper.make_node("Gemm", [f"{branch}_emb", weight(f"{branch}_wc", width, n_cls),
                                      weight(f"{branch}_bc", n_cls)], [f"{branch}_logits"]),
            helper.make_node("Gemm", [f"{branch}_emb", weight(f"{branch}_wg", width, 1),
                                      weight(f"{branch}_bg", 1)], [f"{branch}_gate"]),
        ]
    nodes += [
        helper.make_node("Identity", ["f_logits"], [OUTPUT_FACE_LOGITS]),
        helper.make_node("Identity", ["a_logits"], [OUTPUT_AUDIO_LOGITS]),
        helper.make_node("Concat", ["f_gate", "a_gate"], ["gates"], axis=1),
        # Masked softmax: an absent branch gets -1e4 added to its gate, so its weight is ~0.
        helper.make_node("Sub", [INPUT_MASK, const("one", np.ones(1, np.float32))], ["mask_m1"]),
        helper.make_node("Mul", ["mask_m1", const("big", np.full(1, 1e4, np.float32))], ["penalty"]),
        helper.make_node("Add", ["gates", "penalty"], ["masked_gates"]),
        helper.make_node("Softmax", ["masked_gates"], [OUTPUT_WEIGHTS], axis=1),
        helper.make_node("Split", [OUTPUT_WEIGHTS, const("split2", np.array([1, 1], np.int64))],
                         ["w_f", "w_a"], axis=1),
        helper.make_node("Mul", ["w_f", "f_logits"], ["wf_logits"]),
        helper.make_node("Mul", ["w_a", "a_logits"], ["wa_logits"]),
        helper.make_node("Add", ["wf_logits", "wa_logits"], [OUTPUT_LOGITS]),
    ]
    f32 = TensorProto.FLOAT
    graph = helper.make_graph(
        nodes, contract.name.replace("-", "_"),
        inputs=[
            helper.make_tensor_value_info(INPUT_FACE, f32, ["N", 3, face.size, face.size]),
            helper.make_tensor_value_info(INPUT_AUDIO, f32, ["N", 1, audio.n_mels, audio.frames]),
            helper.make_tensor_value_info(INPUT_MASK, f32, ["N", 2]),
        ],
        outputs=[
            helper.make_tensor_value_info(OUTPUT_LOGITS, f32, ["N", n_cls]),
            helper.make_tensor_value_info(OUTPUT_FACE_LOGITS, f32, ["N", n_cls]),
            helper.make_tensor_value_info(OUTPUT_AUDIO_LOGITS, f32, ["N", n_cls]),
            helper.make_tensor_value_info(OUTPUT_WEIGHTS, f32, ["N", 2]),
        ],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="emotion_core.sample_model")
    model.ir_version = 8
    write_onnx_contract(model, contract)
    onnx.checker.check_model(model)
    return model


def write_sample_model(path: str | Path, seed: int = 0) -> Path:
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(build_sample_model(seed=seed), str(path))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("output", type=Path, help="where to write the .onnx file")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(write_sample_model(args.output, args.seed))


if __name__ == "__main__":
    main()

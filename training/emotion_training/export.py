"""Export a checkpoint to ONNX with the contract's I/O and the contract in its metadata, check
it, and compare ONNX Runtime with PyTorch (timm ``onnx_export`` / ``onnx_validate`` style).

    python -m emotion_training.export --checkpoint runs/x/best.pt --output runs/x/model.onnx

Inputs ``face`` (N,3,S,S), ``audio`` (N,1,n_mels,frames), ``modality_mask`` (N,2); outputs
``logits``, ``face_logits``, ``audio_logits``, ``fusion_weights``; the batch axis is dynamic
(several faces in a frame are one engine call). The robot loads the result with
``emotion_core.backends.load_model``; nothing else has to be configured.
"""
from __future__ import annotations

import argparse
import json
import logging
import warnings
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch

from emotion_core.contract import (INPUT_AUDIO, INPUT_FACE, INPUT_MASK, OUTPUT_AUDIO_LOGITS,
                                   OUTPUT_FACE_LOGITS, OUTPUT_LOGITS, OUTPUT_WEIGHTS, ModelContract,
                                   write_onnx_contract)

from .artifacts import load_trained_checkpoint
from .checkpoint import build_contract, model_from_checkpoint
from .utils import setup_logging

log = logging.getLogger("emotion_training.export")

INPUTS = (INPUT_FACE, INPUT_AUDIO, INPUT_MASK)
OUTPUTS = (OUTPUT_LOGITS, OUTPUT_FACE_LOGITS, OUTPUT_AUDIO_LOGITS, OUTPUT_WEIGHTS)
OPSET = 18


def example_inputs(contract: ModelContract, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Random inputs of the contract's shapes, with every mask pattern represented."""
    g = torch.Generator().manual_seed(seed)
    face, audio = contract.face, contract.audio
    assert face is not None and audio is not None
    masks = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])
    return (torch.randn(batch, 3, face.size, face.size, generator=g),
            torch.randn(batch, 1, audio.n_mels, audio.frames, generator=g),
            masks[torch.arange(batch) % len(masks)])


def export_onnx(model: torch.nn.Module, contract: ModelContract, path: str | Path) -> Path:
    """Write the ONNX file (one file, weights inside), contract in ``metadata_props``."""
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    args = example_inputs(contract, batch=2)
    batch = torch.export.Dim("N", min=1, max=1024)
    with torch.no_grad(), warnings.catch_warnings():
        # Exporter chatter that says nothing about this model's correctness (checked below).
        for message in (".*axis name.*", ".*were assigned during export.*", ".*_check_is_size.*"):
            warnings.filterwarnings("ignore", message=message)
        torch.onnx.export(
            model, args, str(path), input_names=list(INPUTS), output_names=list(OUTPUTS),
            opset_version=OPSET, dynamo=True, external_data=False,
            dynamic_shapes={"face": {0: batch}, "audio": {0: batch}, "modality_mask": {0: batch}})
    proto = onnx.load(str(path))
    write_onnx_contract(proto, contract)
    onnx.checker.check_model(proto, full_check=True)
    onnx.save(proto, str(path))
    return path


def compare_with_torch(model: torch.nn.Module, path: str | Path, contract: ModelContract,
                       batch: int = 4) -> dict[str, float]:
    """Max absolute difference per output between ONNX Runtime and eager PyTorch, at a batch
    size other than the export's (proves the dynamic axis)."""
    from emotion_core.backends import load_model

    backend, _ = load_model(path, backend="onnxruntime")
    args = example_inputs(contract, batch=batch, seed=1)
    with torch.no_grad():
        expected = model.eval()(*args)
    got = backend.run({name: t.numpy() for name, t in zip(INPUTS, args)})
    return {name: float(np.max(np.abs(got[name] - value.numpy())))
            for name, value in zip(OUTPUTS, expected)}


def export_checkpoint(ckpt_path: str | Path, output: Optional[str | Path] = None,
                      tolerance: float = 1e-3) -> dict[str, Any]:
    ckpt = load_trained_checkpoint(ckpt_path)  # a clear error for a bare state_dict
    model, cfg, labels = model_from_checkpoint(ckpt)
    provenance = {"checkpoint": Path(ckpt_path).name, "epoch": str(ckpt["epoch"]),
                  "dataset": f"{cfg.data.dataset} ({cfg.data.label_set})",
                  "split": json.dumps(ckpt["split"]), "backbone": cfg.model.backbone,
                  "pretrained": str(cfg.model.weights or cfg.model.backbone_checkpoint or "none"),
                  "trainer": "emotion_training"}
    contract = build_contract(cfg, labels, version=str(ckpt["epoch"]), provenance=provenance)
    path = Path(output) if output else Path(ckpt_path).with_name("model.onnx")
    export_onnx(model, contract, path)
    diffs = compare_with_torch(model, path, contract)
    worst = max(diffs.values())
    if worst > tolerance:
        raise RuntimeError(f"ONNX Runtime differs from PyTorch by {worst:.2e} (> {tolerance}): {diffs}")
    result = {"onnx": str(path), "max_abs_diff": diffs, "opset": OPSET,
              "contract": contract.to_dict(), "bytes": path.stat().st_size}
    path.with_suffix(".export.json").write_text(json.dumps(result, indent=1))
    log.info("exported %s (%.1f MB), ORT vs PyTorch max |diff| %.2e", path,
             path.stat().st_size / 1e6, worst)
    return result


def main(argv: Optional[list[str]] = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--output", type=Path, help="default: model.onnx beside the checkpoint")
    parser.add_argument("--tolerance", type=float, default=1e-3, help="max allowed |ORT - torch|")
    args = parser.parse_args(argv)
    setup_logging()
    return export_checkpoint(args.checkpoint, args.output, args.tolerance)


if __name__ == "__main__":
    main()

"""What deployment consumes and produces: trained checkpoints (checked before any work starts),
the file names beside an exported model, and the contract every derived model must keep.

A derived model (int8 ONNX, TensorRT engine) is only useful if ``emotion_node`` loads it with no
other configuration, so every step that writes one checks here that the contract survived.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from emotion_core.contract import ContractError, ModelContract, read_onnx_contract

from .checkpoint import load_checkpoint

#: What ``train.py`` stores and export/quantization need.
CHECKPOINT_KEYS = ("model", "config", "labels", "split", "epoch")


class DeployError(RuntimeError):
    """A deployment step that cannot be done with what it was given."""


def load_trained_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint written by ``emotion_training.train``; refuse anything else with what
    is missing (a bare ``state_dict`` has no config, so no contract can be built from it)."""
    ckpt = load_checkpoint(path)
    if not isinstance(ckpt, Mapping):
        raise DeployError(f"{path} holds a {type(ckpt).__name__}, not a training checkpoint")
    missing = [k for k in CHECKPOINT_KEYS if k not in ckpt]
    if "config" in missing:
        raise DeployError(
            f"{path} has no 'config': not a checkpoint written by emotion_training.train. The model "
            "contract (labels, face and audio preprocessing) is built from the run's config, so a "
            "bare state_dict cannot be deployed; export best.pt or last.pt of a training run")
    if missing:
        raise DeployError(f"{path} lacks {missing}: not a checkpoint written by emotion_training.train")
    audio = ckpt["config"].get("audio", {}) if isinstance(ckpt["config"], Mapping) else {}
    if audio.get("norm_mean") is None or audio.get("norm_std") is None:
        raise DeployError(f"{path}: its config has no audio.norm_mean/norm_std (training computes "
                          "them from the training split before the first epoch): re-train or set them")
    return dict(ckpt)


def int8_path(onnx_path: str | Path) -> Path:
    """``model.onnx`` -> ``model.int8.onnx``."""
    p = Path(onnx_path)
    return p.with_name(f"{p.stem}.int8.onnx")


def calibration_cache_path(onnx_path: str | Path) -> Path:
    """Where the TensorRT INT8 calibration cache of ``model.onnx`` lives: ``model.int8.calib``."""
    p = Path(onnx_path)
    return p.with_name(f"{p.stem}.int8.calib")


def file_mb(path: str | Path) -> float:
    return Path(path).stat().st_size / 1e6


def require_same_contract(path: str | Path, expected: ModelContract) -> ModelContract:
    """The contract of the ONNX model at ``path``; refuse it when missing or when it differs from
    ``expected`` in anything but provenance (which records how the model was derived)."""
    try:
        contract = read_onnx_contract(path)
    except ContractError as exc:
        raise DeployError(f"{Path(path).name} lost its model contract ({exc}); emotion_node would "
                          "refuse it. Re-write it with emotion_core.contract.write_onnx_contract") from exc
    strip = {"provenance"}
    got = {k: v for k, v in contract.to_dict().items() if k not in strip}
    want = {k: v for k, v in expected.to_dict().items() if k not in strip}
    if got != want:
        diffs = [f"{k}: {got.get(k)!r} != {want.get(k)!r}" for k in sorted(set(got) | set(want))
                 if got.get(k) != want.get(k)]
        raise DeployError(f"{Path(path).name} carries a contract that differs from its source: {diffs}")
    return contract

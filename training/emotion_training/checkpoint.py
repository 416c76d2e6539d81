"""Checkpoints (everything needed to resume or export) and the contract a run's model carries."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Optional, Sequence

import torch

from emotion_core.contract import (OUTPUT_AUDIO_LOGITS, OUTPUT_FACE_LOGITS, OUTPUT_LOGITS,
                                   OUTPUT_WEIGHTS, ModelContract)

from .config import Config, config_from_dict
from .models import FusionNet, create_model


def build_contract(cfg: Config, labels: Sequence[str], version: str = "1",
                   provenance: Optional[Mapping[str, str]] = None) -> ModelContract:
    """The contract of a trained model: its label set, the face and audio preprocessing of its
    config (with the norm statistics computed on its training split), and the tensor names."""
    return ModelContract(
        labels=tuple(labels),
        modalities=("face", "audio"),
        face=cfg.face.spec(),
        audio=cfg.audio.spec(normalised=True),
        name=cfg.name,
        model_version=version,
        outputs={"logits": OUTPUT_LOGITS, "face_logits": OUTPUT_FACE_LOGITS,
                 "audio_logits": OUTPUT_AUDIO_LOGITS, "fusion_weights": OUTPUT_WEIGHTS},
        provenance=dict(provenance or {}),
    ).validate()


def save_checkpoint(path: str | Path, state: Mapping[str, Any]) -> Path:
    """Write atomically: a run killed mid-save leaves the previous checkpoint intact."""
    path = Path(path)
    tmp = path.with_suffix(".tmp")
    torch.save(dict(state), tmp)
    tmp.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    # Our own files: configs and histories are plain Python containers.
    return torch.load(path, map_location="cpu", weights_only=False)


def model_from_checkpoint(ckpt: Mapping[str, Any]) -> tuple[FusionNet, Config, tuple[str, ...]]:
    """Rebuild the model of a checkpoint (no pretrained weights are fetched: the checkpoint
    holds them all)."""
    cfg = config_from_dict(ckpt["config"])
    cfg.model.weights = None
    cfg.model.backbone_checkpoint = None
    labels = tuple(ckpt["labels"])
    model = create_model(cfg.model, cfg.audio.n_mels, len(labels))
    model.load_state_dict(ckpt["model"])
    return model.eval(), cfg, labels

"""The fusion model with the contract's I/O: ``(face, audio, modality_mask)`` ->
``(logits, face_logits, audio_logits, fusion_weights)``."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .backbones import create_backbone
from .branches import AudioBranch, ImageBranch

#: Added to the gate score of an absent modality: its softmax weight becomes ~0 (fp16-safe).
ABSENT_PENALTY = 1e4


class FusionOutput(NamedTuple):
    logits: torch.Tensor
    face_logits: torch.Tensor
    audio_logits: torch.Tensor
    fusion_weights: torch.Tensor


def _projection(in_dim: int, dim: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), nn.Linear(in_dim, dim), nn.LayerNorm(dim), nn.GELU())


class FusionNet(nn.Module):
    """Both embeddings projected to one width; a learned score per modality, masked so that an
    absent modality (mask 0) gets no weight, softmax-normalised into ``fusion_weights``; the
    weighted sum is classified. Per-branch heads give ``face_logits`` / ``audio_logits``, which
    the robot publishes as per-modality probabilities."""

    def __init__(self, image: ImageBranch, audio: AudioBranch, num_classes: int,
                 embed_dim: int = 128, dropout: float = 0.3) -> None:
        super().__init__()
        self.image = image
        self.audio = audio
        self.face_proj = _projection(image.out_dim, embed_dim, dropout)
        self.audio_proj = _projection(audio.out_dim, embed_dim, dropout)
        self.face_gate = nn.Linear(embed_dim, 1)
        self.audio_gate = nn.Linear(embed_dim, 1)
        self.face_head = nn.Linear(embed_dim, num_classes)
        self.audio_head = nn.Linear(embed_dim, num_classes)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(embed_dim, num_classes))
        self.num_classes = num_classes

    def forward(self, face: torch.Tensor, audio: torch.Tensor, modality_mask: torch.Tensor) -> FusionOutput:
        f = self.face_proj(self.image(face))
        a = self.audio_proj(self.audio(audio))
        scores = torch.cat([self.face_gate(f), self.audio_gate(a)], dim=1)
        scores = scores + (modality_mask.to(scores.dtype) - 1.0) * ABSENT_PENALTY
        weights = torch.softmax(scores, dim=1)
        fused = weights[:, 0:1] * f + weights[:, 1:2] * a
        return FusionOutput(self.classifier(fused), self.face_head(f), self.audio_head(a), weights)

    def parameter_groups(self, lr: float, backbone_lr_scale: float, weight_decay: float) -> list[dict]:
        """A smaller learning rate for the (possibly pretrained) image backbone; no weight decay
        on biases and norm parameters."""
        groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
        for name, param in self.named_parameters():
            if not param.requires_grad:
                continue
            key = (name.startswith("image.backbone."), param.ndim <= 1)
            groups.setdefault(key, []).append(param)
        return [{"params": params, "lr": lr * (backbone_lr_scale if is_backbone else 1.0),
                 "weight_decay": 0.0 if no_decay else weight_decay}
                for (is_backbone, no_decay), params in groups.items()]


def create_model(model_cfg, n_mels: int, num_classes: int) -> FusionNet:
    """Model from a ``ModelConfig``."""
    backbone = create_backbone(model_cfg.backbone, model_cfg.weights, model_cfg.backbone_checkpoint,
                               getattr(model_cfg, "allow_download", False))
    image = ImageBranch(backbone, model_cfg.se_reduction)
    a = model_cfg.audio
    audio = AudioBranch(n_mels, a.channels, a.lstm_hidden, a.lstm_layers)
    model = FusionNet(image, audio, num_classes, model_cfg.embed_dim, model_cfg.dropout)
    if model_cfg.bn_momentum is not None:
        for module in model.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.momentum = model_cfg.bn_momentum
    return model

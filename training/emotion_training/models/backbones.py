"""Image backbones by name: a registry so that a new backbone (e.g. the face-pretrained
FaceExpressionNet from ``emotion_training.face_api``) plugs in with one decorated factory.

A factory takes ``weights`` (a torchvision weights enum name such as ``"DEFAULT"``, or None)
and returns a module mapping ``(N, 3, H, W)`` to the last feature map ``(N, C, h, w)`` with
its channel count in ``out_channels``. Nothing downloads unless ``weights`` names pretrained
weights; ``checkpoint`` loads a local state dict instead (offline, no dead links).
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

log = logging.getLogger(__name__)

BackboneFactory = Callable[[Optional[str]], nn.Module]
_REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    def wrap(factory: BackboneFactory) -> BackboneFactory:
        if name in _REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        _REGISTRY[name] = factory
        return factory
    return wrap


def list_backbones() -> list[str]:
    _load_plugins()
    return sorted(_REGISTRY)


def _load_plugins() -> None:
    """Import optional backbone modules that register themselves (absent ones are fine)."""
    try:
        import emotion_training.face_api.backbone  # noqa: F401  (registers "face_expression_net")
    except ImportError:
        pass


class FeatureExtractor(nn.Module):
    """A torchvision ``features`` stack with its output channel count."""

    def __init__(self, features: nn.Module, out_channels: int) -> None:
        super().__init__()
        self.features = features
        self.out_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


def _torchvision(builder: Callable, weights_enum, weights: Optional[str]) -> FeatureExtractor:
    if weights and weights not in weights_enum.__members__:
        raise ValueError(f"unknown weights {weights!r}; available: {list(weights_enum.__members__)}")
    model = builder(weights=weights_enum[weights] if weights else None)
    return FeatureExtractor(model.features, model.features[-1].out_channels)


@register_backbone("efficientnet_b0")
def efficientnet_b0(weights: Optional[str] = None) -> FeatureExtractor:
    from torchvision.models import EfficientNet_B0_Weights, efficientnet_b0 as build

    return _torchvision(build, EfficientNet_B0_Weights, weights)


@register_backbone("mobilenet_v3_small")
def mobilenet_v3_small(weights: Optional[str] = None) -> FeatureExtractor:
    from torchvision.models import MobileNet_V3_Small_Weights, mobilenet_v3_small as build

    return _torchvision(build, MobileNet_V3_Small_Weights, weights)


@register_backbone("mobilenet_v3_large")
def mobilenet_v3_large(weights: Optional[str] = None) -> FeatureExtractor:
    from torchvision.models import MobileNet_V3_Large_Weights, mobilenet_v3_large as build

    return _torchvision(build, MobileNet_V3_Large_Weights, weights)


def create_backbone(name: str, weights: Optional[str] = None,
                    checkpoint: Optional[str | Path] = None) -> nn.Module:
    """Backbone by registry name, optionally loading a local checkpoint (a state dict of the
    backbone, of a full torchvision classifier, or a dict holding one under ``state_dict``)."""
    _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(_REGISTRY)}")
    module = _REGISTRY[name](weights)
    if not hasattr(module, "out_channels"):
        raise TypeError(f"backbone {name!r} must expose out_channels")
    if checkpoint:
        load_backbone_checkpoint(module, checkpoint)
    return module


def load_backbone_checkpoint(module: nn.Module, path: str | Path) -> None:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"backbone checkpoint not found: {path}")
    state = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = module.state_dict()
    # Accept a whole torchvision classifier ("features.0.0.weight", "classifier.…").
    matched = {k: v for k, v in state.items() if k in own}
    if not matched:
        raise ValueError(f"{path} shares no parameter names with the backbone")
    missing = [k for k in own if k not in matched]
    if missing:
        raise ValueError(f"{path} lacks {len(missing)} backbone parameters, e.g. {missing[:3]}")
    module.load_state_dict(matched)
    log.info("loaded backbone weights from %s (%d tensors)", path, len(matched))

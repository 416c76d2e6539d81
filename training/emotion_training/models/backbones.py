"""Image backbones by name: a registry so that a new backbone (e.g. the face-pretrained
FaceExpressionNet from ``emotion_training.face_api``) plugs in with one decorated factory.

A factory takes ``weights`` (a torchvision weights enum name such as ``"DEFAULT"``, or None)
and returns a module mapping ``(N, 3, H, W)`` to the last feature map ``(N, C, h, w)`` with
its channel count in ``out_channels``. Nothing downloads by default: torchvision weights are
read from the torch hub cache or from a local file path given as ``weights``, and a missing
file raises ``WeightsUnavailable`` with how to provide it (``allow_download`` lets torchvision
fetch it instead); ``checkpoint`` loads a local state dict on top (offline, no dead links).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import nn

from ..backbone_registry import REGISTRY as _REGISTRY, register_backbone

log = logging.getLogger(__name__)

#: Backbones built by torchvision, with a loader of their weights enum (imported lazily).
_TORCHVISION_WEIGHTS: dict[str, Callable[[], Any]] = {}


class WeightsUnavailable(ValueError):
    """Pretrained weights a config names that this machine does not have (and may not fetch)."""


def looks_like_path(weights: str) -> bool:
    """A ``model.weights`` value meant as a file or folder rather than a weights name."""
    return os.sep in weights or "/" in weights or Path(weights).suffix.lower() in (
        ".pth", ".pt", ".bin", ".json", ".ckpt", ".safetensors") or Path(weights).exists()


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


def _tv_enum(name: str) -> Callable[[], Any]:
    def load() -> Any:
        import torchvision.models as tvm

        return getattr(tvm, name)
    return load


_TORCHVISION_WEIGHTS.update(efficientnet_b0=_tv_enum("EfficientNet_B0_Weights"),
                            mobilenet_v3_small=_tv_enum("MobileNet_V3_Small_Weights"),
                            mobilenet_v3_large=_tv_enum("MobileNet_V3_Large_Weights"))


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


def torch_hub_checkpoints() -> Path:
    """Where torchvision keeps downloaded weights (``$TORCH_HOME/hub/checkpoints``)."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_weights_file(name: str, weights: str) -> tuple[Path, str]:
    """(cache path, download URL) of a torchvision backbone's named weights."""
    enum = _TORCHVISION_WEIGHTS[name]()
    if weights not in enum.__members__:
        raise ValueError(f"unknown weights {weights!r} for {name}; available: {list(enum.__members__)}"
                         " (or a local file path, or null)")
    url = enum[weights].url
    return torch_hub_checkpoints() / Path(url).name, url


def check_weights(name: str, weights: Optional[str], allow_download: bool = False) -> Optional[Path]:
    """Fail fast, before any data work, when pretrained weights cannot be had offline.

    Returns the local file that will be read (None for random init, a download, or a backbone
    that resolves its own weights); raises ``WeightsUnavailable`` with one line that says which
    file is missing, where it was looked for, how to provide it, and how to train without."""
    if not weights:
        return None
    if looks_like_path(weights):
        path = Path(weights).expanduser()
        if not path.exists():
            raise WeightsUnavailable(
                f"model.weights {weights!r}: no such file or folder; give an existing weights file "
                f"(or --set model.weights=null to train without pretrained weights)")
        return path
    if name not in _TORCHVISION_WEIGHTS:
        return None
    path, url = torchvision_weights_file(name, weights)
    if path.is_file() or allow_download:
        return path if path.is_file() else None
    raise WeightsUnavailable(
        f"model.weights {weights!r} for {name} needs {path.name}, which is not in {path.parent} "
        f"(the torch hub cache; TORCH_HOME moves it) and downloads are off: copy it there "
        f"(from {url}), or give its path with --set model.weights=/path/to/{path.name}, "
        f"or allow the download with --set model.allow_download=true, "
        f"or train without pretrained weights with --set model.weights=null")


def create_backbone(name: str, weights: Optional[str] = None,
                    checkpoint: Optional[str | Path] = None, allow_download: bool = False) -> nn.Module:
    """Backbone by registry name, optionally loading a local checkpoint (a state dict of the
    backbone, of a full torchvision classifier, or a dict holding one under ``state_dict``).

    Torchvision weights are read from the torch hub cache (or the file ``weights`` names)
    without touching the network unless ``allow_download``."""
    _load_plugins()
    if name not in _REGISTRY:
        raise ValueError(f"unknown backbone {name!r}; available: {sorted(_REGISTRY)}")
    local = check_weights(name, weights, allow_download)
    if name in _TORCHVISION_WEIGHTS and local is not None:
        module = _REGISTRY[name](None)
        load_backbone_checkpoint(module, local)
    else:
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

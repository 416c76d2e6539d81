"""face-api's FaceExpressionNet in PyTorch, loaded from its TF.js weights.

Offered to training as a face-pretrained image backbone (trained on faces, unlike ImageNet
backbones): ``FaceExpressionBackbone.from_face_api(cache_or_manifest)`` gives the 256-channel
feature map (7x7 at 112x112) or, via ``embed``, the pooled 256-d embedding. Inputs follow
``face_spec()``: RGB, ``(pixel - mean) / 255`` - the model contract the default ONNX carries.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from emotion_core.contract import FaceSpec

from .manifest import ManifestError, load_manifest
from .nets import (CONVS_PER_BLOCK, DENSE_CHANNELS, EXPRESSION_CLASSES, EXPRESSION_MANIFEST,
                   FEATURE_CHANNELS, expression_params)
from .package import package_dir


def pad_same(x: torch.Tensor, kernel: int, stride: int) -> torch.Tensor:
    """TF 'SAME' padding for a strided conv: the odd pixel goes to the bottom/right."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad order: last dim first
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads)


class SeparableConv(nn.Module):
    """TF separableConv2d: 3x3 depthwise (no bias) then 1x1 pointwise with bias."""

    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, stride, padding=1 if stride == 1 else 0,
                                   groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class DenseBlock(nn.Module):
    """Four convs, the first with stride 2; each later conv sees the ReLU of the sum of all
    earlier outputs, and the block returns the ReLU of the sum of all four."""

    def __init__(self, cin: int, cout: int, first: bool) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(cin, cout, 3, 2) if first else SeparableConv(cin, cout, stride=2)
        for j in range(1, CONVS_PER_BLOCK):
            setattr(self, f"conv{j}", SeparableConv(cout, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [F.relu(self.conv0(pad_same(x, 3, 2)))]
        for j in range(1, CONVS_PER_BLOCK):
            inp = outs[0] if j == 1 else F.relu(_nested_sum(outs))
            outs.append(getattr(self, f"conv{j}")(inp))
        return F.relu(_nested_sum(outs))


def _nested_sum(xs: list[torch.Tensor]) -> torch.Tensor:
    """``a + (b + (c + d))``: face-api's order of additions (keeps parity at float precision)."""
    acc = xs[-1]
    for x in reversed(xs[:-1]):
        acc = x + acc
    return acc


class FaceExpressionBackbone(nn.Module):
    """The four dense blocks of FaceExpressionNet: ``(N, 3, H, W)`` -> ``(N, 256, H/16, W/16)``."""

    out_channels = FEATURE_CHANNELS

    def __init__(self) -> None:
        super().__init__()
        cin = 3
        for b, cout in enumerate(DENSE_CHANNELS):
            setattr(self, f"dense{b}", DenseBlock(cin, cout, first=b == 0))
            cin = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for b in range(len(DENSE_CHANNELS)):
            x = getattr(self, f"dense{b}")(x)
        return x

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Pooled ``(N, 256)`` embedding (face-api averages the 7x7 map)."""
        return self.forward(x).mean(dim=(2, 3))

    @staticmethod
    def face_spec() -> FaceSpec:
        """Crop preprocessing these weights were trained with; write it into the model contract."""
        from .onnx_build import expression_contract

        face = expression_contract().face
        assert face is not None
        return face

    @classmethod
    def from_face_api(cls, source: str | Path) -> "FaceExpressionBackbone":
        """Backbone with face-api's pretrained weights (see ``load_face_api_weights``)."""
        return load_face_api_weights(source).backbone


class FaceExpressionNet(nn.Module):
    """Backbone + global average pool + linear classifier over face-api's 7 expressions."""

    classes = EXPRESSION_CLASSES

    def __init__(self) -> None:
        super().__init__()
        self.backbone = FaceExpressionBackbone()
        self.fc = nn.Linear(FEATURE_CHANNELS, len(EXPRESSION_CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.backbone.embed(x))

    def load_params(self, params: Mapping[str, np.ndarray]) -> "FaceExpressionNet":
        """Load ``nets.expression_params`` output (every tensor must be present)."""
        state = {(k if k.startswith("fc.") else f"backbone.{k}"): torch.from_numpy(np.array(v))
                 for k, v in params.items()}
        self.load_state_dict(state, strict=True)
        return self


def resolve_manifest(source: str | Path) -> Path:
    """Expression manifest from a manifest path, a ``model/`` or package folder, or the npm cache."""
    path = Path(source)
    if path.is_file():
        return path
    for candidate in (path / EXPRESSION_MANIFEST, path / "model" / EXPRESSION_MANIFEST):
        if candidate.is_file():
            return candidate
    if path.is_dir():
        return package_dir(path) / "model" / EXPRESSION_MANIFEST
    raise ManifestError(f"no face-api expression weights at {path}")


def load_face_api_weights(source: str | Path) -> FaceExpressionNet:
    """FaceExpressionNet (eval mode) with face-api's weights from ``source`` (see ``resolve_manifest``)."""
    weights = load_manifest(resolve_manifest(source))
    return FaceExpressionNet().load_params(expression_params(weights)).eval()

"""Registers FaceExpressionNet as the ``face_expression_net`` image backbone of training.

``weights``: None (random init), ``"DEFAULT"``/``"face_api"`` (face-api's pretrained weights from
the npm cache: ``$FACE_API_CACHE``, else ``<repo>/.cache/npm``), or a path to a weights manifest,
a ``model/`` folder or another cache folder. Train it on crops preprocessed as
``FaceExpressionBackbone.face_spec()`` says (112x112 RGB, ``(x - mean) / 255``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from emotion_training.backbone_registry import register_backbone

from .torch_model import FaceExpressionBackbone

CACHE_ENV = "FACE_API_CACHE"


def default_cache() -> Path:
    """Where scripts/setup.sh puts the npm tarball."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    return Path(__file__).resolve().parents[3] / ".cache" / "npm"


@register_backbone("face_expression_net")
def face_expression_net(weights: Optional[str] = None) -> FaceExpressionBackbone:
    if not weights:
        return FaceExpressionBackbone()
    source = default_cache() if weights.lower() in ("default", "face_api") else Path(weights)
    return FaceExpressionBackbone.from_face_api(source)

"""face-api (``@vladmandic/face-api``, MIT) pretrained face networks, read from its npm package.

- ``manifest``: TF.js weights-manifest reader with uint8 dequantisation (numpy only);
- ``onnx_build`` / ``build``: the face stack as ONNX, torch-free (run at setup): expression net,
  tiny and SSD face detectors, 68-point landmark nets, 128-d face descriptor net;
- ``torch_model``: the same FaceExpressionNet in PyTorch, offered to training as a
  face-pretrained backbone (``FaceExpressionBackbone``, ``load_face_api_weights``);
- ``backbone``: registers it as the ``face_expression_net`` training backbone.

Importing this package does not import torch (the setup builds the default model without it);
it registers the backbone only when the training backbone registry is already loaded.
"""
import sys

from .manifest import ManifestError, load_manifest
from .nets import EXPRESSION_CLASSES, PACKAGE_NAME, PACKAGE_VERSION

if "emotion_training.models.backbones" in sys.modules:  # torch is loaded already
    from . import backbone  # noqa: F401  (registers "face_expression_net")

__all__ = ["ManifestError", "load_manifest", "EXPRESSION_CLASSES", "PACKAGE_NAME", "PACKAGE_VERSION"]

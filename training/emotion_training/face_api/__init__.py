"""face-api (``@vladmandic/face-api``, MIT) pretrained face networks, read from its npm package.

- ``manifest``: TF.js weights-manifest reader with uint8 dequantisation (numpy only);
- ``onnx_build`` / ``build``: the default face stack as ONNX, torch-free (run at setup);
- ``torch_model``: the same FaceExpressionNet in PyTorch, offered to training as a
  face-pretrained backbone (``FaceExpressionBackbone``, ``load_face_api_weights``).

Importing this package does not import torch; ``torch_model`` does.
"""
from .manifest import ManifestError, load_manifest
from .nets import EXPRESSION_CLASSES, PACKAGE_NAME, PACKAGE_VERSION

__all__ = ["ManifestError", "load_manifest", "EXPRESSION_CLASSES", "PACKAGE_NAME", "PACKAGE_VERSION"]

"""The image-backbone registry on its own, outside ``models``: plug-in backbones (e.g.
``face_api.backbone``) register here, and ``models.backbones`` loads those plug-ins, so the
registry cannot live in ``models.backbones`` without an import cycle between the two."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Optional

if TYPE_CHECKING:
    from torch import nn

BackboneFactory = Callable[[Optional[str]], "nn.Module"]
#: Backbone name -> factory taking ``weights`` (a weights name, a path or None).
REGISTRY: dict[str, BackboneFactory] = {}


def register_backbone(name: str) -> Callable[[BackboneFactory], BackboneFactory]:
    """Decorator registering a backbone factory under ``name`` (once)."""
    def wrap(factory: BackboneFactory) -> BackboneFactory:
        if name in REGISTRY:
            raise ValueError(f"backbone {name!r} is already registered")
        REGISTRY[name] = factory
        return factory
    return wrap

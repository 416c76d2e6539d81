"""Image and audio branches, the fusion model, and the image-backbone registry."""
from .backbones import create_backbone, list_backbones, register_backbone
from .branches import AudioBranch, ImageBranch
from .fusion import FusionNet, FusionOutput, create_model
from .layers import AttentionPool, ChannelAttention

__all__ = ["AttentionPool", "AudioBranch", "ChannelAttention", "FusionNet", "FusionOutput",
           "ImageBranch", "create_backbone", "create_model", "list_backbones", "register_backbone"]

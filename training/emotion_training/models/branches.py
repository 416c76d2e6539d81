"""The two modality branches, each mapping its input to one embedding vector."""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .layers import AttentionPool, ChannelAttention


class ImageBranch(nn.Module):
    """Backbone feature map -> channel attention -> global average pool -> ``(N, C)``."""

    def __init__(self, backbone: nn.Module, se_reduction: int = 8) -> None:
        super().__init__()
        self.backbone = backbone
        self.attention = ChannelAttention(backbone.out_channels, se_reduction)
        self.out_dim = backbone.out_channels

    def forward(self, face: torch.Tensor) -> torch.Tensor:
        return torch.mean(self.attention(self.backbone(face)), dim=(2, 3))


class AudioBranch(nn.Module):
    """Log-mel ``(N, 1, mels, frames)`` -> CNN -> BiLSTM over the *time* axis -> attention pool.

    The CNN pools frequency hard and time gently (x2 per block) so that the LSTM still sees a
    sequence of local spectral descriptors, not one pooled vector.
    """

    def __init__(self, n_mels: int, channels: Sequence[int] = (32, 64, 128), lstm_hidden: int = 128,
                 lstm_layers: int = 1) -> None:
        super().__init__()
        blocks: list[nn.Module] = []
        cin, mels = 1, n_mels
        for cout in channels:
            pool_f = 2 if mels >= 4 else 1
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.ReLU(inplace=True), nn.MaxPool2d((pool_f, 2))]
            cin, mels = cout, mels // pool_f
        self.cnn = nn.Sequential(*blocks)
        self.lstm = nn.LSTM(cin * mels, lstm_hidden, num_layers=lstm_layers, batch_first=True,
                            bidirectional=True)
        self.pool = AttentionPool(2 * lstm_hidden)
        self.out_dim = 2 * lstm_hidden

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        x = self.cnn(mel)                      # (N, C, F, T)
        x = x.flatten(1, 2).transpose(1, 2)    # (N, T, C*F): one step per time frame
        x, _ = self.lstm(x)
        return self.pool(x)

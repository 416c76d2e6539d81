"""Attention layers shared by the branches."""
from __future__ import annotations

import torch
from torch import nn


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation over both average- and max-pooled features (the original design's
    channel attention, as in CBAM): a shared bottleneck MLP scores each pooled descriptor, the
    sum gates the channels. Max pooling keeps strong local cues (a raised brow) that averaging
    over the whole face would dilute."""

    def __init__(self, channels: int, reduction: int = 8) -> None:
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = torch.mean(x, dim=(2, 3), keepdim=True)
        mx = torch.amax(x, dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(mx))


class AttentionPool(nn.Module):
    """Learned weighted mean over the time axis of ``(N, T, D)``: emotional cues sit in a few
    frames of an utterance, so a learned weighting beats a plain mean or the last LSTM state."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.score = nn.Sequential(nn.Linear(dim, dim // 2), nn.Tanh(), nn.Linear(dim // 2, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(self.score(x), dim=1)  # (N, T, 1)
        return torch.sum(weights * x, dim=1)

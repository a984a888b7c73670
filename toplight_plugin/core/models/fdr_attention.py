"""Channel-relation reasoning inside the FDR: the paper's shuffle attention (per position in the spatial reading, on
GAP(D) in the literal one) and its Table 5(b) rivals.

Every variant maps the fused directional features D (Eq. 9) and the Block4 features Z to
the refinement D_hat that Eq. 11 adds to Z.
"""

from __future__ import annotations

import torch
import torch.nn as nn

ATTENTIONS = ("sa", "sa_noshuffle", "se", "cbam")


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave ``groups`` channel groups (ShuffleNet's shuffle): [a0..an, b0..bn] -> [a0, b0, a1, b1, ...]."""
    n, c, h, w = x.shape
    return x.view(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def _mlp(in_channels: int, out_channels: int) -> nn.Sequential:
    """W2 ReLU(W1 .) of Eq. 10: projection matrices without bias, hidden width C/4."""
    hidden = max(1, out_channels // 4)
    return nn.Sequential(
        nn.Linear(in_channels, hidden, bias=False), nn.ReLU(inplace=True), nn.Linear(hidden, out_channels, bias=False)
    )


class ShuffleAttention(nn.Module):
    """Eq. 9 (shuffle) and Eq. 10: D_hat = W2 ReLU(W1 GAP(Shuffle(D))), one value per channel of Z.

    ``shuffle=False`` is Table 5(b)'s "SA (w/o cs.)". ``groups`` is the number of directional
    maps concatenated in D (2 for Hs+Vs), so the shuffle interleaves their channels.
    """

    def __init__(self, in_channels: int, channels: int, groups: int, shuffle: bool = True):
        super().__init__()
        self.groups = groups if shuffle else 1
        self.mlp = _mlp(in_channels, channels)

    def forward(self, d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.groups > 1:
            d = channel_shuffle(d, self.groups)  # Eq. 9
        return self.mlp(d.mean(dim=(2, 3)))[:, :, None, None]  # Eq. 10, broadcast over H x W in Eq. 11


class PositionShuffleAttention(nn.Module):
    """Eq. 9 (shuffle) and Eq. 10 in the spatial reading: D_hat = W2 ReLU(W1 Shuffle(D)) at every position of the
    map (W1, W2 as bias-free 1x1 convolutions), so the refinement varies over H x W with D."""

    def __init__(self, in_channels: int, channels: int, groups: int, shuffle: bool = True):
        super().__init__()
        self.groups = groups if shuffle else 1
        hidden = max(1, channels // 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(in_channels, hidden, 1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        if self.groups > 1:
            d = channel_shuffle(d, self.groups)  # Eq. 9
        return self.mlp(d)  # Eq. 10 at every position


class SEAttention(nn.Module):
    """Squeeze-and-excitation (Hu et al.): sigmoid channel weights from D re-weight Z."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.mlp = _mlp(in_channels, channels)

    def forward(self, d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(d.mean(dim=(2, 3))))[:, :, None, None] * z


class CBAMAttention(nn.Module):
    """CBAM (Woo et al.): channel weights from D's average and max pooling, then a 7x7 spatial map."""

    def __init__(self, in_channels: int, channels: int):
        super().__init__()
        self.mlp = _mlp(in_channels, channels)
        self.spatial = nn.Conv2d(2, 1, kernel_size=7, padding=3, bias=False)

    def forward(self, d: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        weights = torch.sigmoid(self.mlp(d.mean(dim=(2, 3))) + self.mlp(d.amax(dim=(2, 3))))
        zc = weights[:, :, None, None] * z
        pooled = torch.cat([zc.mean(dim=1, keepdim=True), zc.amax(dim=1, keepdim=True)], dim=1)
        return torch.sigmoid(self.spatial(pooled)) * zc


def build_attention(kind: str, in_channels: int, channels: int, groups: int, per_position: bool = False) -> nn.Module:
    """``per_position``: the shuffle attention of the spatial reading (SE and CBAM are the same in both)."""
    shuffle_attention = PositionShuffleAttention if per_position else ShuffleAttention
    if kind == "sa":
        return shuffle_attention(in_channels, channels, groups, shuffle=True)
    if kind == "sa_noshuffle":
        return shuffle_attention(in_channels, channels, groups, shuffle=False)
    if kind == "se":
        return SEAttention(in_channels, channels)
    if kind == "cbam":
        return CBAMAttention(in_channels, channels)
    raise ValueError(f"unknown FDR attention {kind!r}; expected one of {ATTENTIONS}")

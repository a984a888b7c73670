"""Fine-grained Dependency Reconstruction (FDR), Eq. 5-11 of the paper, with its ablation switches.

Z (C x H x W, the output of Block4) is cut into H/sigma horizontal strips of height sigma
(Eq. 5) and W/mu vertical strips of width mu (Eq. 6); each strip is average-pooled, which
cuts the original spatial dependencies. Two modality-shared transposed convolutions whose
kernel and stride equal the strip size rebuild C x H x W maps from the strip descriptors
(Eq. 7, 8). Their concatenation is channel-shuffled (Eq. 9), reduced to channel weights
(Eq. 10) and added to Z (Eq. 11).

When H is not a multiple of sigma (or W of mu) the last strip is shorter: it is pooled
over the rows (columns) it has, and the reconstruction is cropped back to H x W.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fdr_attention import ATTENTIONS, build_attention

SPATIAL = ("hs+vs", "hs", "vs", "gap")


class DirectionalStrips(nn.Module):
    """Eq. 5-8 for one direction: pool strips of ``window`` = (rows, cols), rebuild the map.

    With ``upsample=False`` (Table 5(a) "w/o u.") each pooled value is copied back over its
    strip instead of passing through the learned transposed convolution.
    """

    def __init__(self, channels: int, size: tuple[int, int], window: tuple[int, int], upsample: bool, groups: int):
        super().__init__()
        self.size, self.window = size, window
        self.rebuild = (
            nn.ConvTranspose2d(channels, channels, kernel_size=window, stride=window, groups=groups, bias=False)
            if upsample
            else None
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        pooled = F.avg_pool2d(z, self.window, self.window, ceil_mode=True)  # Eq. 5/6 + average pooling
        if self.rebuild is not None:
            out = self.rebuild(pooled)  # Eq. 7/8
        else:
            out = pooled.repeat_interleave(self.window[0], 2).repeat_interleave(self.window[1], 3)
        return out[:, :, : self.size[0], : self.size[1]]


class FDR(nn.Module):
    """The FDR neck for Block4 maps of a fixed ``size`` = (H, W).

    ``spatial``: "hs+vs" (the paper), "hs" or "vs" (Table 3 rows 7, 8), "gap" (row 6: Z goes
    to the attention as is). ``attention``: "sa" (the paper), "sa_noshuffle", "se", "cbam"
    (Table 5(b)). ``upsample=False``: Table 5(a) "Hs + Vs (w/o u.)". ``groups`` splits the
    transposed convolutions into channel groups (1 = dense, the paper's reading).
    """

    def __init__(
        self,
        channels: int,
        size: tuple[int, int],
        sigma: int = 2,
        mu: int = 3,
        spatial: str = "hs+vs",
        attention: str = "sa",
        upsample: bool = True,
        groups: int = 1,
    ):
        super().__init__()
        if spatial not in SPATIAL:
            raise ValueError(f"unknown FDR spatial mode {spatial!r}; expected one of {SPATIAL}")
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown FDR attention {attention!r}; expected one of {ATTENTIONS}")
        h, w = size
        if not (1 <= sigma <= h and 1 <= mu <= w):
            raise ValueError(f"strip sizes must fit the {h}x{w} Block4 map: got sigma={sigma}, mu={mu}")
        if channels % groups:
            raise ValueError(f"FDR groups={groups} must divide the {channels} channels")
        self.size = (h, w)
        self.branches = nn.ModuleList()
        if spatial in ("hs+vs", "hs"):
            self.branches.append(DirectionalStrips(channels, self.size, (sigma, w), upsample, groups))
        if spatial in ("hs+vs", "vs"):
            self.branches.append(DirectionalStrips(channels, self.size, (h, mu), upsample, groups))
        maps = max(1, len(self.branches))
        self.attention = build_attention(attention, maps * channels, channels, groups=maps)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if tuple(z.shape[-2:]) != self.size:
            raise ValueError(
                f"FDR was built for {self.size[0]}x{self.size[1]} Block4 maps but got "
                f"{z.shape[-2]}x{z.shape[-1]}: build the model with the input height/width you feed it"
            )
        d = torch.cat([b(z) for b in self.branches], dim=1) if self.branches else z  # Eq. 9 concat
        return z + self.attention(d, z)  # Eq. 11

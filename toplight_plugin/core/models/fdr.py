"""Fine-grained Dependency Reconstruction (FDR), Eq. 5-11 of the paper, in two readings, with its ablation switches.

Z (C x H x W, the output of Block4) is cut into H/sigma horizontal strips of sigma rows (Eq. 5) and W/mu vertical
strips of mu columns (Eq. 6); each strip is average-pooled, which cuts the original spatial dependencies.

- ``reading="spatial"`` (default): a modality-shared transposed convolution per direction rebuilds the strip
  profile at full length along its axis (Eq. 7, 8), followed by BatchNorm and ReLU, and the profile spans the map
  along the other axis. The concatenated, channel-shuffled maps (Eq. 9) are weighted by W1, W2 at every position
  (Eq. 10, "weighting all the spatial maps") and added to Z (Eq. 11): the refinement depends on where things are.
  No kernel spans a whole row or column, so the module works at any input size.
- ``reading="literal"``: transposed convolutions whose kernels span a whole strip (sigma x W, H x mu) rebuild
  C x H x W maps, and Eq. 10 applies W1, W2 to GAP(D). Every step is linear up to GAP, so the refinement is one
  value per channel computed from GAP(Z) (docs/models.md). Built for one input size.

When H is not a multiple of sigma (or W of mu) the last strip is shorter: it is pooled over the rows (columns) it
has, and the reconstruction is cropped back to H x W.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from toplight_plugin.core.models.fdr_attention import ATTENTIONS, build_attention

SPATIAL = ("hs+vs", "hs", "vs", "gap")
READINGS = ("spatial", "literal")


class StripProfile(nn.Module):
    """Eq. 5-8 in the spatial reading, for one direction (``axis`` 2: horizontal strips of ``window`` rows, 3:
    vertical strips of ``window`` columns): pool each strip, rebuild the profile along the axis with a transposed
    convolution of kernel = stride = ``window`` along it (or copy each mean over its strip, ``upsample=False``),
    BatchNorm + ReLU, and span the profile over the other axis."""

    def __init__(self, channels: int, axis: int, window: int, upsample: bool, groups: int):
        super().__init__()
        self.axis, self.window = axis, window
        kernel = (window, 1) if axis == 2 else (1, window)
        self.rebuild = (
            nn.ConvTranspose2d(channels, channels, kernel, stride=kernel, groups=groups, bias=False)
            if upsample
            else None
        )
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h, w = z.shape[-2:]
        if self.window > (h if self.axis == 2 else w):
            raise ValueError(f"FDR strips of {self.window} {'rows' if self.axis == 2 else 'columns'} do not fit a "
                             f"{h}x{w} Block4 map: use a larger input or a smaller fdr_sigma / fdr_mu")  # fmt: skip
        # Eq. 5/6 + average pooling: the mean over the strip's full length, then over its window of rows (columns);
        # both kernels are fixed, so the graph exports to ONNX with a dynamic input size.
        kernel = (self.window, 1) if self.axis == 2 else (1, self.window)
        line = z.mean(dim=5 - self.axis, keepdim=True)
        pooled = F.avg_pool2d(line, kernel, kernel, ceil_mode=True)
        if self.rebuild is not None:
            profile = self.rebuild(pooled)  # Eq. 7/8
        else:
            profile = pooled.repeat_interleave(self.window, self.axis)
        return F.relu(self.norm(profile[:, :, :h, :w])).expand(-1, -1, h, w)


class DirectionalStrips(nn.Module):
    """Eq. 5-8 for one direction in the literal reading: pool strips of ``window`` = (rows, cols), rebuild the map.

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
    """The FDR neck. ``spatial``: "hs+vs" (the paper), "hs" or "vs" (Table 3 rows 7, 8), "gap" (row 6: Z goes to
    the attention as is). ``attention``: "sa" (the paper), "sa_noshuffle", "se", "cbam" (Table 5(b)).
    ``upsample=False``: Table 5(a) "Hs + Vs (w/o u.)". ``groups`` splits the transposed convolutions into channel
    groups (1 = dense). ``reading``: "spatial" (default) or "literal" (see the module docstring); ``size`` = (H, W)
    of the Block4 maps is what the literal reading is built for, and where the spatial one checks the strips fit.
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
        reading: str = "spatial",
    ):
        super().__init__()
        if spatial not in SPATIAL:
            raise ValueError(f"unknown FDR spatial mode {spatial!r}; expected one of {SPATIAL}")
        if attention not in ATTENTIONS:
            raise ValueError(f"unknown FDR attention {attention!r}; expected one of {ATTENTIONS}")
        if reading not in READINGS:
            raise ValueError(f"unknown FDR reading {reading!r}; expected one of {READINGS}")
        h, w = size
        if not (1 <= sigma <= h and 1 <= mu <= w):
            raise ValueError(f"strip sizes must fit the {h}x{w} Block4 map: got sigma={sigma}, mu={mu}")
        if channels % groups:
            raise ValueError(f"FDR groups={groups} must divide the {channels} channels")
        self.size, self.reading = (h, w), reading
        self.branches = nn.ModuleList()
        for direction, axis, window in (("hs", 2, sigma), ("vs", 3, mu)):
            if spatial in ("hs+vs", direction):
                self.branches.append(
                    StripProfile(channels, axis, window, upsample, groups)
                    if reading == "spatial"
                    else DirectionalStrips(channels, self.size, (sigma, w) if axis == 2 else (h, mu), upsample, groups)
                )
        maps = max(1, len(self.branches))
        self.attention = build_attention(attention, maps * channels, channels, maps, per_position=reading == "spatial")

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if self.reading == "literal" and tuple(z.shape[-2:]) != self.size:
            raise ValueError(
                f"FDR was built for {self.size[0]}x{self.size[1]} Block4 maps but got "
                f"{z.shape[-2]}x{z.shape[-1]}: build the model with the input height/width you feed it"
            )
        d = torch.cat([b(z) for b in self.branches], dim=1) if self.branches else z  # Eq. 9 concat
        return z + self.attention(d, z)  # Eq. 11

"""The dual-path network of Fig. 2: modality-specific stems, pre-embedding group(s), neck, shared post-embedding group.

Modality codes: 0 = visible (Block1-1), 1 = infrared (Block1-2). In TOP pretraining mode
the pre-embedding group (Blocks 2-4) exists twice and sample of path m runs through
Block(2,3,4)-m; after the uniform soup (VI mode) there is one shared group.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn as nn

VISIBLE, INFRARED = 0, 1
Codes = int | torch.Tensor | np.ndarray | list | None


def host_codes(modality: torch.Tensor | np.ndarray | list, batch: int) -> np.ndarray:
    """The codes as a host array, checked. A host tensor (the loader's) or array costs nothing; a device tensor costs
    one read, which is why the engines pass the loader's copy (DistributedDataParallel moves tensor arguments to the
    device, not arrays)."""
    codes = np.asarray(modality.cpu() if isinstance(modality, torch.Tensor) else modality, dtype=np.int64).reshape(-1)
    if codes.size != batch:
        raise ValueError(f"got {codes.size} modality codes for a batch of {batch} images")
    if not np.isin(codes, (VISIBLE, INFRARED)).all():
        raise ValueError(f"modality codes must be 0 (visible) or 1 (infrared), got {np.unique(codes).tolist()}")
    return codes


def on(x: torch.Tensor, index: np.ndarray | torch.Tensor) -> torch.Tensor:
    """An index made on the host, copied to ``x``'s device without waiting for it."""
    index = torch.as_tensor(index)
    return index.pin_memory().to(x.device, non_blocking=True) if x.is_cuda else index


class MapLayout(nn.Module):
    """A post-embedding group's pooling that gets its maps laid out otherwise than (N, C, H, W) (ViT's tokens,
    Swin's channels-last maps) and says how to lay them out (the model card's ``feature_layout``)."""

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError


class DualPathNet(nn.Module):
    """Backbone returning one feature vector per image.

    ``forward(x, modality)``: ``modality`` is an int for a single-modality batch, or 0/1 per
    sample (a host array or tensor: routing is decided on the host); each sample goes through
    its own stem and the outputs are returned in batch order. Called with the image alone it uses the codes given to
    ``route_next`` (how torchreid's stock engines, which call ``model(images)``, route each
    image), else ``default_modality``, the visible stem unless set.
    """

    def __init__(
        self, stem: nn.Module, pre: nn.Module, post: nn.Module, neck: nn.Module | None = None, pre_groups: int = 1
    ):
        super().__init__()
        if pre_groups not in (1, 2):
            raise ValueError(f"pre_groups must be 1 (VI mode) or 2 (TOP pretraining), got {pre_groups}")
        self.stems = nn.ModuleList([stem, copy.deepcopy(stem)])
        self.pre = nn.ModuleList([pre] + [copy.deepcopy(pre) for _ in range(pre_groups - 1)])
        self.neck = neck if neck is not None else nn.Identity()
        self.post = post
        self.default_modality = VISIBLE
        self.routed: torch.Tensor | None = None

    def route_next(self, modality: torch.Tensor | np.ndarray) -> None:
        """Modality codes for the next forward call made without them (used once)."""
        self.routed = modality

    def _path(self, x: torch.Tensor, m: int) -> torch.Tensor:
        x = self.stems[m](x)
        return self.pre[m](x) if len(self.pre) == 2 else x

    def forward_pre(self, x: torch.Tensor, modality: Codes = None) -> torch.Tensor:
        """Block4 output (before the neck): x1 / x2 of Eq. 1-2 in pretraining, Z of Eq. 5 in VI mode."""
        if modality is None:
            modality, self.routed = (self.default_modality if self.routed is None else self.routed), None
        if not isinstance(modality, int):
            modality = host_codes(modality, x.shape[0])
            if (modality == modality[0]).all():
                modality = int(modality[0])
        if isinstance(modality, int):
            if modality not in (VISIBLE, INFRARED):
                raise ValueError(f"modality must be 0 (visible) or 1 (infrared), got {modality}")
            out = self._path(x, modality)
        else:  # index lists made on the host, copied without waiting: the device is never read
            paths = [np.flatnonzero(modality == m) for m in (VISIBLE, INFRARED)]
            restore = torch.from_numpy(np.argsort(np.concatenate(paths), kind="stable"))
            out = torch.cat([self._path(x.index_select(0, on(x, index)), m) for m, index in enumerate(paths)])
            out = out.index_select(0, on(x, restore))
        return self.pre[0](out) if len(self.pre) == 1 else out

    def forward_post(self, z: torch.Tensor) -> torch.Tensor:
        """Neck and Blocks 5-7: Block4 maps -> feature vectors."""
        return self.post(self.neck(z))

    def forward(self, x: torch.Tensor, modality: Codes = None) -> torch.Tensor:
        return self.forward_post(self.forward_pre(x, modality))

    def feature_maps(self, x: torch.Tensor, modality: Codes = None) -> torch.Tensor:
        """The last maps before global pooling (what torchreid's ``return_featuremaps`` asks for), (N, C, H, W)."""
        z = self.neck(self.forward_pre(x, modality))
        return self.post.feature_maps(z) if isinstance(self.post, MapLayout) else until_global_pool(self.post, z)

    def channels_first(self, z: torch.Tensor) -> torch.Tensor:
        """What the post-embedding group gets, laid out (N, C, H, W) by its pooling when it is a MapLayout."""
        return self.post.feature_maps(z) if isinstance(self.post, MapLayout) else z


def until_global_pool(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Run ``module``'s leaf layers in order and return the input of the first one that pools the maps to 1 x 1."""
    x, _ = _run_until_pool(module, x)
    return x


def _run_until_pool(module: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, bool]:
    children = list(module.children()) if isinstance(module, nn.Sequential) else []
    if not children:
        y = module(x)
        pooled = x.dim() == 4 and x.shape[-2:] != (1, 1) and (y.dim() != 4 or y.shape[-2:] == (1, 1))
        return (x, True) if pooled else (y, False)
    for child in children:
        x, stop = _run_until_pool(child, x)
        if stop:
            return x, True
    return x, False

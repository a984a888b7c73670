"""The six TOPLight variants (dual-stem lightweight backbone + FDR + BNNeck)."""

from __future__ import annotations

from pathlib import Path

import torch.nn as nn

from toplight_plugin.core.models.assemble import (
    ALLOW_HEAD,
    FDR_OPTIONS,
    FDROptions,
    assemble,
    load_own_or_keep,
    split_pretrained,
)
from toplight_plugin.core.models.backbones import BACKBONES, build_blocks
from toplight_plugin.core.models.cards import ModelCard
from toplight_plugin.core.models.heads import BNNeck
from toplight_plugin.core.models.registry import register_model, register_variant

OPTIONS = ("height", "width", "last_stride", "pre_groups", *FDR_OPTIONS)


def build_toplight(
    backbone: str,
    num_classes: int,
    loss: str = "softmax",
    pretrained: bool | str | Path = False,
    use_gpu: bool = False,
    *,
    last_stride: int = 2,
    height: int = 288,
    width: int = 144,
    pre_groups: int = 1,
    allow_missing: tuple[str, ...] = ALLOW_HEAD,
    **fdr_options,
) -> nn.Module:
    """Build a TOPLight network on ``backbone`` (a key of backbones.BACKBONES).

    ``pretrained``: False, True (ImageNet weights via torchvision/timm), or a local file
    holding either the library model's ImageNet state_dict (both stems get its stem
    weights) or a checkpoint of this project (TOP soup, VI training). ``use_gpu`` is
    accepted for torchreid's ``build_model`` and ignored: the caller moves the model.
    ``height``/``width``: the input size the FDR is built for. ``pre_groups=2`` builds the
    TOP pretraining form with two pre-embedding groups. ``allow_missing``: key prefixes a
    checkpoint of this project may leave at their initial values (assemble.load_own_checkpoint).
    ``fdr_options``: see FDROptions.from_kwargs (``fdr=None`` builds no FDR).
    """
    own, imagenet = split_pretrained(pretrained)
    blocks = build_blocks(backbone, imagenet, last_stride, source=str(pretrained))
    model = assemble(
        blocks,
        lambda dim: BNNeck(dim, num_classes),
        loss,
        size=(height, width),
        fdr=FDROptions.from_kwargs(**fdr_options),
        pre_groups=pre_groups,
    )
    return load_own_or_keep(model, own, tuple(allow_missing))


def _factory(backbone: str):
    def factory(
        num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False, use_gpu: bool = False, **kwargs
    ):
        return build_toplight(backbone, num_classes, loss, pretrained, use_gpu, **kwargs)

    factory.__name__ = factory.__qualname__ = f"toplight_{backbone}"
    factory.__doc__ = f"TOPLight on {BACKBONES[backbone].arch} ({BACKBONES[backbone].library}); see build_toplight."
    return factory


for _name, _spec in BACKBONES.items():
    register_model(_factory(_name), ModelCard(f"toplight_{_name}", "person", True, _spec.feat_dim, OPTIONS,
                                              backbone=_name))  # fmt: skip
    register_variant(f"toplight_{_name}_nofdr", f"toplight_{_name}", fdr=None)  # the paper's rows without the FDR

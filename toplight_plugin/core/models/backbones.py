"""Lightweight ImageNet networks from torchvision and timm, cut into the paper's Block1..Block7.

Table 1 of the paper packages MobileNetV3-L into seven blocks: a stem (Block1), a
pre-embedding group (Blocks 2-4, ending at stride 8 where the FDR sits) and a
post-embedding group (Blocks 5-7). Every family here is cut the same way; Block7 ends
with global average pooling (and the library's 1x1 projection where it has one), so the
post-embedding group returns the feature vector. The splits are listed in docs/models.md.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn as nn

from toplight_plugin.core.models.weights import load_into


@dataclass(frozen=True)
class BackboneSpec:
    """One ImageNet network: where it comes from and how it is cut."""

    library: str  # "torchvision" or "timm"
    arch: str  # the library's own model name
    cut: Callable[[nn.Module], Sequence[nn.Module]]  # library model -> its blocks (Block1..Block7 for TOPLight)
    feat_dim: int  # width of the feature vector the cut network ends in
    has_imagenet_weights: bool = True
    sized: bool = False  # built for one input size (timm's transformers take ``img_size``)
    layout: str = "nchw"  # what the pooling gets: maps, ViT "tokens", channels-last "nhwc" maps (cards.LAYOUTS)
    hooks: tuple[str, ...] = ()  # the hooks (hooks.HOOKS) its cut pieces implement


def _cut_mobilenetv3_large(m: nn.Module) -> list[nn.Module]:
    f = m.features
    block7 = nn.Sequential(f[16], nn.AdaptiveAvgPool2d(1), nn.Flatten(1), m.classifier[0], m.classifier[1])
    return [f[0:2], f[2], f[3], f[4:7], f[7:13], f[13:16], block7]


def _cut_mobilenetv3_small(m: nn.Module) -> list[nn.Module]:
    # Table 1's layer-by-layer split would put Block4 at stride 16 on the Small model;
    # this split ends Block4 at stride 8 like the Large one.
    f = m.features
    block7 = nn.Sequential(f[12], nn.AdaptiveAvgPool2d(1), nn.Flatten(1), m.classifier[0], m.classifier[1])
    return [f[0], f[1], f[2], f[3], f[4:9], f[9:12], block7]


def _cut_shufflenetv2(m: nn.Module) -> list[nn.Module]:
    s2 = m.stage2
    block7 = nn.Sequential(m.conv5, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))
    return [nn.Sequential(m.conv1, m.maxpool), s2[0], s2[1], s2[2:], m.stage3, m.stage4, block7]


def _cut_ghostnet(m: nn.Module) -> list[nn.Module]:
    b = m.blocks
    stem = nn.Sequential(m.conv_stem, m.bn1, m.act1, b[0])
    block7 = nn.Sequential(b[9], nn.AdaptiveAvgPool2d(1), m.conv_head, m.act2, nn.Flatten(1))
    return [stem, b[1], b[2], b[3:5], b[5:7], b[7:9], block7]


BACKBONES: dict[str, BackboneSpec] = {
    "mobilenetv3_large": BackboneSpec("torchvision", "mobilenet_v3_large", _cut_mobilenetv3_large, 1280),
    "mobilenetv3_small": BackboneSpec("torchvision", "mobilenet_v3_small", _cut_mobilenetv3_small, 1024),
    "shufflenetv2_x1_0": BackboneSpec("torchvision", "shufflenet_v2_x1_0", _cut_shufflenetv2, 1024),
    "shufflenetv2_x1_5": BackboneSpec("torchvision", "shufflenet_v2_x1_5", _cut_shufflenetv2, 1024),
    "ghostnet_100": BackboneSpec("timm", "ghostnet_100", _cut_ghostnet, 1280),
    # timm registers ghostnet_130 without published ImageNet weights.
    "ghostnet_130": BackboneSpec("timm", "ghostnet_130", _cut_ghostnet, 1280, has_imagenet_weights=False),
}


def _create(spec: BackboneSpec, from_hub: bool, size: tuple[int, int] | None) -> nn.Module:
    """Build the library's model, with its ImageNet weights when ``from_hub``, for ``size`` if it is ``sized``."""
    if spec.library == "torchvision":
        import torchvision

        return torchvision.models.get_model(spec.arch, weights="IMAGENET1K_V1" if from_hub else None)
    import timm

    return timm.create_model(spec.arch, pretrained=from_hub, **({"img_size": size} if spec.sized else {}))


def _adapt(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A timm ImageNet state_dict made to fit a model built for another input size, by the model module's own
    ``checkpoint_filter_fn`` (position embeddings and relative position tables resampled)."""
    import importlib

    return importlib.import_module(type(model).__module__).checkpoint_filter_fn(state, model)


def set_last_stride(block: nn.Module, last_stride: int) -> None:
    """Give the block's downsampling unit stride ``last_stride`` (1 keeps a 2x larger final map)."""
    if last_stride not in (1, 2):
        raise ValueError(f"last_stride must be 1 or 2, got {last_stride!r}")
    strided = [m for m in block.modules() if isinstance(m, (nn.Conv2d, nn.MaxPool2d)) and m.stride == (2, 2)]
    if not strided:
        raise RuntimeError("the block has no stride-2 layer to change")
    for m in strided:
        m.stride = (last_stride, last_stride)


def library_model(spec: BackboneSpec, pretrained: bool | Mapping[str, torch.Tensor], source: str,
                  size: tuple[int, int] | None = None) -> nn.Module:  # fmt: skip
    """The library's model of ``spec``: random (False), ImageNet through the library's own download (True), or
    loaded from a state_dict of that model (read from a local file by the caller; ``source`` names it in errors).
    ``size``: the input size a ``sized`` model is built for."""
    from_hub = pretrained is True
    if from_hub and not spec.has_imagenet_weights:
        raise ValueError(
            f"{spec.library} publishes no ImageNet weights for {spec.arch}; "
            "pass a local weights file as `pretrained` or use pretrained=False"
        )
    try:
        model = _create(spec, from_hub, size)
    except OSError as err:  # network errors derive from OSError
        raise RuntimeError(
            f"could not fetch ImageNet weights of {spec.arch} from {spec.library} ({err}); "
            "pass a local weights file as `pretrained`"
        ) from err
    if isinstance(pretrained, Mapping):
        state = _adapt(model, dict(pretrained)) if spec.sized else dict(pretrained)
        load_into(model, state, source, ignore=unused_keys(spec, model))
    return model


def unused_keys(spec: BackboneSpec, model: nn.Module) -> frozenset[str]:
    """The state_dict keys of the library model that ``spec.cut`` leaves out (its ImageNet classifier, say): a
    weights file may hold them with any shape, e.g. a classifier over another set of classes."""
    used = {id(t) for part in spec.cut(model) if isinstance(part, nn.Module)
            for t in part.state_dict(keep_vars=True).values()}  # fmt: skip
    return frozenset(k for k, t in model.state_dict(keep_vars=True).items() if id(t) not in used)


def build_blocks(
    name: str, pretrained: bool | Mapping[str, torch.Tensor] = False, last_stride: int = 2, source: str = "weights"
) -> list[nn.Module]:
    """Return [Block1, ..., Block7] of backbone ``name``; ``pretrained`` as in library_model.

    Weights are loaded before the model is cut, so key names are the library's own.
    """
    if name not in BACKBONES:
        raise KeyError(f"unknown backbone {name!r}; expected one of {sorted(BACKBONES)}")
    blocks = BACKBONES[name].cut(library_model(BACKBONES[name], pretrained, source))
    set_last_stride(blocks[5], last_stride)
    return blocks

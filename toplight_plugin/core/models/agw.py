"""AGW (Ye et al., "Deep Learning for Person Re-identification: A Survey and Outlook", TPAMI 2021), the
two-stream ResNet-50 baseline the VI-ReID field compares against, registered as ``agw_resnet50``.

Modality-specific stems (conv1, bn1, relu, maxpool), shared layer1-4 with last stride 1, non-local blocks
after layer2 blocks 2-3 and layer3 blocks 3-5 (0-based), GeM pooling (p = 3) and a BNNeck. It is built on
torchvision's ResNet-50 and the project's DualPathNet, so the VI engine, the protocols, the ONNX export and
the benchmark treat it like any TOPLight variant. docs/models.md says where it differs from public AGW code.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from toplight_plugin.core.models.assemble import ALLOW_HEAD, load_own_or_keep, split_pretrained
from toplight_plugin.core.models.backbones import BackboneSpec, library_model, set_last_stride
from toplight_plugin.core.models.cards import ModelCard
from toplight_plugin.core.models.dual_path import DualPathNet
from toplight_plugin.core.models.heads import BNNeck, ReIDNet
from toplight_plugin.core.models.registry import register_model

NON_LOCAL_AFTER = {"layer2": (2, 3), "layer3": (3, 4, 5)}  # 0-based block indices
FEAT_DIM = 2048


class NonLocal(nn.Module):
    """Non-local block (Wang et al. 2018), dot-product form: y_i = (1/N) sum_j theta(x_i)^T phi(x_j) g(x_j),
    z = W(y) + x. The inner width is C/2, as the non-local and AGW papers define it; W ends in a BatchNorm
    initialised to zero, so the block starts as the identity and the ImageNet ResNet is unchanged at step 0."""

    def __init__(self, channels: int, reduction: int = 2):
        super().__init__()
        inner = channels // reduction
        self.theta = nn.Conv2d(channels, inner, 1)
        self.phi = nn.Conv2d(channels, inner, 1)
        self.g = nn.Conv2d(channels, inner, 1)
        self.W = nn.Sequential(nn.Conv2d(inner, channels, 1), nn.BatchNorm2d(channels))
        nn.init.zeros_(self.W[1].weight)
        nn.init.zeros_(self.W[1].bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.theta(x).flatten(2)  # (N, C', HW)
        phi = self.phi(x).flatten(2)
        g = self.g(x).flatten(2)
        # (N, HW, HW), normalised by the positions before the product: a sum over C' terms stays in fp16's range
        affinity = (theta / phi.shape[-1]).transpose(1, 2) @ phi
        y = g @ affinity.transpose(1, 2)  # y_i = sum_j affinity_ij g_j
        return x + self.W(y.view(x.shape[0], -1, *x.shape[2:]))


class GeM(nn.Module):
    """Generalised-mean pooling (Radenović et al. 2018) with the fixed p = 3 of AGW: (mean x^p)^(1/p)."""

    def __init__(self, p: float = 3.0, eps: float = 1e-6):
        super().__init__()
        self.p, self.eps = p, eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=self.eps).pow(self.p).mean(dim=(2, 3)).pow(1.0 / self.p)


def cut_resnet(m: nn.Module) -> list[nn.Module]:
    return [nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool), m.layer1, m.layer2, m.layer3, m.layer4]


RESNET50 = BackboneSpec("torchvision", "resnet50", cut_resnet, FEAT_DIM)


def _with_non_local(layer: nn.Sequential, after: tuple[int, ...]) -> nn.Sequential:
    channels = layer[-1].conv3.out_channels
    modules = []
    for i, block in enumerate(layer):
        modules.append(block)
        if i in after:
            modules.append(NonLocal(channels))
    return nn.Sequential(*modules)


def agw_resnet50(
    num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False, use_gpu: bool = False,
    allow_missing: tuple[str, ...] = ALLOW_HEAD, **kwargs,
) -> ReIDNet:  # fmt: skip
    """AGW two-stream ResNet-50. ``pretrained``: False, True (torchvision's ImageNet weights), a local file with
    torchvision's ResNet-50 state_dict, or an AGW checkpoint of this project. ``use_gpu`` is accepted for
    torchreid's ``build_model`` and ignored; so are the input size keywords, as AGW has no FDR to size."""
    unknown = sorted(set(kwargs) - {"height", "width"})
    if unknown:
        raise TypeError(f"agw_resnet50 takes no option(s) {unknown}: it has no FDR")
    own, imagenet = split_pretrained(pretrained)
    stem, layer1, layer2, layer3, layer4 = cut_resnet(library_model(RESNET50, imagenet, str(pretrained)))
    set_last_stride(layer4, 1)
    shared = nn.Sequential(
        layer1,
        _with_non_local(layer2, NON_LOCAL_AFTER["layer2"]),
        _with_non_local(layer3, NON_LOCAL_AFTER["layer3"]),
        layer4,
    )
    backbone = DualPathNet(stem, shared, GeM())
    model = ReIDNet(backbone, BNNeck(FEAT_DIM, num_classes), loss)
    return load_own_or_keep(model, own, tuple(allow_missing))


register_model(agw_resnet50, ModelCard("agw_resnet50", "person", True, FEAT_DIM, ("height", "width")))

"""LightCNN-29 v2 (Wu et al., "A Light CNN for Deep Face Representation with Noisy Labels", TIFS 2018).

The face baseline B of Table 8 (Sec. 4.5) and its TOPLight form (dual stem + FDR). No maintained
library ships LightCNN, so it is written here. Module names follow the authors' public v2 code
(AlfredXiangWu/LightCNN, ``light_cnn.py``: ``network_29layers_v2``) so that their checkpoint
``LightCNN_29Layers_V2_checkpoint.pth.tar`` (80013 classes, keys ``module.*``) loads by name.

Input: (N, 1, H, W) grey levels in [0, 1] (128x128 by default). A 3-channel input, as
torchreid's loaders give, is turned into luminance (ITU-R BT.601, the weights of OpenCV's and
PIL's grey conversion the LightCNN data were made with) inside the stem.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from toplight_plugin.core.models.assemble import ALLOW_HEAD, FDR_OPTIONS, FDROptions, assemble, load_own_checkpoint
from toplight_plugin.core.models.cards import ModelCard, read_weights
from toplight_plugin.core.models.dual_path import until_global_pool
from toplight_plugin.core.models.heads import ReIDNet
from toplight_plugin.core.models.registry import register_model

log = logging.getLogger(__name__)

LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601
RES_BLOCKS = (1, 2, 3, 4)  # residual blocks before group1..group4
WIDTHS = (48, 96, 192, 128, 128)  # conv1 output, then the outputs of group1..group4
FEAT_DIM = 256


def to_gray(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB -> (N, 1, H, W) luminance; a 1-channel input passes unchanged."""
    if x.shape[1] == 1:
        return x
    if x.shape[1] != 3:
        raise ValueError(f"LightCNN takes 1 (grey) or 3 (RGB) input channels, got {x.shape[1]}")
    return torch.einsum("nchw,c->nhw", x, x.new_tensor(LUMA)).unsqueeze(1)


class MFM(nn.Module):
    """Max-Feature-Map (Sec. III-A, Eq. 1): 2k filters, element-wise max of the two halves.

    A competitive activation: it halves the channels and, unlike ReLU, has no fixed threshold,
    which the paper argues suppresses noisy-label signals. ``filter`` is the public name.
    """

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, padding: int = 1):
        super().__init__()
        self.out_ch = out_ch
        self.filter = nn.Conv2d(in_ch, 2 * out_ch, kernel, stride, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = torch.split(self.filter(x), self.out_ch, dim=1)
        return torch.max(a, b)


class Group(nn.Module):
    """A 1x1 MFM (``conv_a``, Network-in-Network style channel mixing) then a kxk MFM (``conv``)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, padding: int = 1):
        super().__init__()
        self.conv_a = MFM(in_ch, in_ch, 1, 1, 0)
        self.conv = MFM(in_ch, out_ch, kernel, 1, padding)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv_a(x))


class ResBlock(nn.Module):
    """Two 3x3 MFM convolutions with an identity shortcut (LightCNN-29, Sec. III-B, Fig. 3)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv1 = MFM(ch, ch)
        self.conv2 = MFM(ch, ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class MaxAvgPool(nn.Module):
    """v2's 2x2 down-sampling: the sum of max-pooling and average-pooling (no parameters)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.max_pool2d(x, 2) + F.avg_pool2d(x, 2)


class Stage(nn.Sequential):
    """A run of LightCNN layers under their public names (``block3``, ``group3``, ...).

    Blocks are Stages so a public key is an own key minus its block prefix
    (``backbone.pre.0.2.group3.conv.filter.weight`` <- ``group3.conv.filter.weight``).
    """

    def __init__(self, **layers: nn.Module):
        super().__init__()
        for name, layer in layers.items():
            self.add_module(name, layer)


class Stem(Stage):
    """Block1: luminance conversion, ``conv1`` (MFM 5x5, 48) and the first pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(to_gray(x))


def _res(i: int) -> nn.Sequential:
    return nn.Sequential(*[ResBlock(WIDTHS[i]) for _ in range(RES_BLOCKS[i])])


def lightcnn29_blocks(height: int = 128, width: int = 128) -> list[nn.Module]:
    """LightCNN-29 v2 cut into Blocks 1-7 (map sizes at 128x128 in brackets, see docs/faces.md).

    B1 conv1+pool [48x64x64] | B2 block1, group1, pool [96x32x32] | B3 block2, group2, pool
    [192x16x16] | B4 block3, group3 [128x16x16] -> FDR at stride 8 | B5 block4 [128x16x16] |
    B6 group4, pool [128x8x8] | B7 flatten, fc -> 256-d feature (v2: a plain linear, no MFM).
    """
    fc_in = WIDTHS[4] * (height // 16) * (width // 16)
    if fc_in == 0:
        raise ValueError(f"LightCNN-29 needs inputs of at least 16x16, got {height}x{width}")
    g = [Group(WIDTHS[i], WIDTHS[i + 1]) for i in range(4)]
    return [
        Stem(conv1=MFM(1, WIDTHS[0], 5, 1, 2), pool1=MaxAvgPool()),
        Stage(block1=_res(0), group1=g[0], pool2=MaxAvgPool()),
        Stage(block2=_res(1), group2=g[1], pool3=MaxAvgPool()),
        Stage(block3=_res(2), group3=g[2]),
        Stage(block4=_res(3)),
        Stage(group4=g[3], pool4=MaxAvgPool()),
        Stage(flatten=nn.Flatten(), fc=nn.Linear(fc_in, FEAT_DIM)),
    ]


class LightCNNHead(nn.Module):
    """LightCNN's own head: the 256-d fc output is the feature, dropout then a bias-free ``fc2``.

    Kept (instead of the re-id BNNeck) so baseline B and B+TOP+FDR differ only in the backbone.
    """

    def __init__(self, feat_dim: int, num_classes: int, dropout: float = 0.5):
        super().__init__()
        self.dropout = dropout
        self.fc2 = nn.Linear(feat_dim, num_classes, bias=False)

    def embed(self, f: torch.Tensor) -> torch.Tensor:
        return f

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.dropout(e, self.dropout, self.training))


class SinglePath(nn.Module):
    """Baseline B's backbone: one path for both modalities; ``modality`` is accepted and ignored."""

    def __init__(self, blocks: list[nn.Module]):
        super().__init__()
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor, modality: int | torch.Tensor | None = None) -> torch.Tensor:
        return self.body(x)

    def feature_maps(self, x: torch.Tensor, modality: int | torch.Tensor | None = None) -> torch.Tensor:
        return until_global_pool(self.body, x)


# own key -> public key: drop the block prefix (stems.m / pre.g.i / post.i / body.i) or "head."
_PREFIX = re.compile(r"^(?:backbone\.(?:stems\.\d+|pre\.\d+\.\d+|post\.\d+|body\.\d+)|head)\.")


@torch.no_grad()
def load_public(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> list[str]:
    """Copy a public-format state_dict (prefix already stripped) into ``model``.

    Every backbone tensor must be present with its shape (both stems take ``conv1``, every
    pre-embedding group the same blocks); ``fc2`` loads only when the classes match. Returns
    the own keys left at their initial values.
    """
    if "fc.filter.weight" in state or "fc2.bias" in state:
        raise ValueError(f"{source}: a LightCNN-9 / LightCNN-29 v1 checkpoint (MFM fc, biased fc2); only v2 fits")
    skipped, used = [], set()
    for key, value in model.state_dict().items():
        name = None if key.startswith("backbone.neck.") else _PREFIX.sub("", key, count=1)  # FDR: not public
        if name is not None and name in state and state[name].shape == value.shape:
            value.copy_(state[name])
            used.add(name)
        elif name is None or name == "fc2.weight":
            skipped.append(key)
        else:
            problem = "missing" if name not in state else f"shape {tuple(state[name].shape)} != {tuple(value.shape)}"
            hint = " (build the model with height=width=128 to use the public fc)" if name == "fc.weight" else ""
            raise ValueError(f"{source}: {name} (for {key}) is {problem}{hint}")
    unexpected = sorted(set(state) - used - {"fc2.weight"})
    if unexpected:
        raise ValueError(f"{source}: {len(unexpected)} keys LightCNN-29 v2 lacks, e.g. {unexpected[:3]}")
    if "fc2.weight" not in used:
        rows = tuple(state["fc2.weight"].shape) if "fc2.weight" in state else None
        classes = model.head.fc2.out_features
        log.info("%s: fc2 %s does not fit %d classes; fc2 left freshly initialised", source, rows, classes)
    return skipped


def _load(model: ReIDNet, pretrained: bool | str | Path, allow_missing: tuple[str, ...] = ALLOW_HEAD) -> ReIDNet:
    """Apply ``pretrained``: False, or a local file (public v2 checkpoint or one of ours; for ours, see
    assemble.load_own_checkpoint for ``allow_missing``)."""
    if pretrained is False or pretrained is None:
        return model
    if pretrained is True:
        raise ValueError(
            "LightCNN-29 v2 weights have no download source here (the authors publish them on Google Drive "
            "only): download LightCNN_29Layers_V2_checkpoint.pth.tar yourself and pass its local path as pretrained"
        )
    source = str(pretrained)
    weights = read_weights(pretrained)
    if weights.own:
        skipped = load_own_checkpoint(model, weights.state, source, tuple(allow_missing), weights.groups)
    else:
        skipped = load_public(model, weights.state, source)
    if skipped:
        log.info("%s: %d tensors kept their initial values: %s", source, len(skipped), ", ".join(skipped))
    return model


def lightcnn29(
    num_classes: int,
    loss: str = "softmax",
    pretrained: bool | str | Path = False,
    use_gpu: bool = False,
    *,
    height: int = 128,
    width: int = 128,
    dropout: float = 0.5,
    allow_missing: tuple[str, ...] = ALLOW_HEAD,
) -> nn.Module:
    """Table 8 baseline B: single-path LightCNN-29 v2; eval -> 256-d fc feature.

    ``pretrained``: False or a local file (public v2 checkpoint or a checkpoint of this model).
    ``use_gpu`` is accepted for torchreid and ignored.
    """
    model = ReIDNet(SinglePath(lightcnn29_blocks(height, width)), LightCNNHead(FEAT_DIM, num_classes, dropout), loss)
    return _load(model, pretrained, allow_missing)


def lightcnn29_toplight(
    num_classes: int,
    loss: str = "softmax",
    pretrained: bool | str | Path = False,
    use_gpu: bool = False,
    *,
    height: int = 128,
    width: int = 128,
    dropout: float = 0.5,
    pre_groups: int = 1,
    allow_missing: tuple[str, ...] = ALLOW_HEAD,
    **fdr_options,
) -> nn.Module:
    """Table 8 B+TOP+FDR (``fdr=None``: B+TOP): dual-stem LightCNN-29 v2, FDR after Block4 (16x16 at 128x128).

    ``pretrained``: False or a local file: the public v2 checkpoint (both stems get ``conv1``)
    or a checkpoint of this project (TOP soup, VI training). ``pre_groups=2``: TOP pretraining form.
    ``fdr_options``: see FDROptions.from_kwargs.
    """
    model = assemble(
        lightcnn29_blocks(height, width),
        lambda dim: LightCNNHead(dim, num_classes, dropout),
        loss,
        in_chans=1,
        size=(height, width),
        fdr=FDROptions.from_kwargs(**fdr_options),
        pre_groups=pre_groups,
    )
    return _load(model, pretrained, allow_missing)


GREY = {"input_size": (128, 128), "in_chans": 1, "mean": (0.0,), "std": (1.0,)}  # grey levels in [0, 1]
register_model(lightcnn29, ModelCard("lightcnn29", "face", False, FEAT_DIM, ("height", "width", "dropout"), **GREY))
register_model(lightcnn29_toplight, ModelCard("lightcnn29_toplight", "face", True, FEAT_DIM,
                                              ("height", "width", "dropout", "pre_groups", *FDR_OPTIONS), **GREY))

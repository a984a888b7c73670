"""Table 4's conventional networks as two-stream visible-infrared models on the libraries' own definitions:
ResNet-50 and ConvNeXt-Tiny (torchvision), ViT-B/16 and Swin-Tiny (timm). Each keeps one stem per modality (the
patch embedding for the transformers), shares the rest, pools to one vector and ends in a BNNeck, like the
lightweight baselines, so the VI engine, the protocols, the ONNX export and the comparison treat them alike.

Input size: ResNet-50 and ConvNeXt take any size. The transformers are built for the config's size (288 x 144 in
the paper's recipe): timm sizes ViT's position embedding for it (18 x 9 patches; ImageNet weights are resampled
from 14 x 14 as they load) and Swin's stages (72 x 36 down to 9 x 5, timm padding the odd width before the last
patch merging and each window that the map does not fill). docs/models.md lists the splits and their FLOPs.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from toplight_plugin.core.models.agw import cut_resnet
from toplight_plugin.core.models.assemble import ALLOW_HEAD, load_own_or_keep, split_pretrained
from toplight_plugin.core.models.backbones import BackboneSpec, library_model
from toplight_plugin.core.models.cards import ModelCard
from toplight_plugin.core.models.dual_path import DualPathNet, MapLayout
from toplight_plugin.core.models.heads import BNNeck, ReIDNet
from toplight_plugin.core.models.registry import register_model


class TokenTrunk(nn.Module):
    """A timm ViT after its patch embedding: class token, position embedding, blocks and final norm."""

    def __init__(self, vit: nn.Module):
        super().__init__()
        self.cls_token, self.pos_embed = vit.cls_token, vit.pos_embed
        self.pos_drop, self.norm_pre, self.blocks, self.norm = vit.pos_drop, vit.norm_pre, vit.blocks, vit.norm

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1) + self.pos_embed
        return self.norm(self.blocks(self.norm_pre(self.pos_drop(x))))

    @property
    def cam_layer(self) -> nn.Module:
        """What Grad-CAM explains: the last block's normalised input. After the last block the class token reads
        the patch tokens no more, so their gradient there is zero."""
        return self.blocks[-1].norm1


class ClassToken(MapLayout):
    """timm ViT's "token" pooling: the class token is the feature; the patch tokens, laid out on the patch grid,
    are its maps."""

    def __init__(self, grid: tuple[int, int]):
        super().__init__()
        self.grid = tuple(grid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0]

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 1:].transpose(1, 2).reshape(x.shape[0], x.shape[2], *self.grid)


class ChannelsLastMean(MapLayout):
    """Global average pooling of channels-last (N, H, W, C) maps, timm Swin's "avg" pooling."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(dim=(1, 2))

    def feature_maps(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(0, 3, 1, 2)


def _cut_resnet(m: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    """torchvision's last stride 2 kept: at 288 x 144 it counts 3,462 M (Table 4: 3,562; last stride 1: 5,151)."""
    stem, *layers = cut_resnet(m)
    return stem, nn.Sequential(*layers), nn.Sequential(m.avgpool, nn.Flatten(1))


def _cut_convnext(m: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    return m.features[0], m.features[1:], nn.Sequential(m.avgpool, m.classifier[0], nn.Flatten(1))


def _cut_vit(m: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    return m.patch_embed, TokenTrunk(m), ClassToken(m.patch_embed.grid_size)


def _cut_swin(m: nn.Module) -> tuple[nn.Module, nn.Module, nn.Module]:
    return m.patch_embed, nn.Sequential(m.layers, m.norm), ChannelsLastMean()


CONVENTIONAL: dict[str, BackboneSpec] = {  # cut: library model -> (stem, shared trunk, pooling)
    "resnet50": BackboneSpec("torchvision", "resnet50", _cut_resnet, 2048),
    "convnext_tiny": BackboneSpec("torchvision", "convnext_tiny", _cut_convnext, 768),
    "vit_b16": BackboneSpec("timm", "vit_base_patch16_224", _cut_vit, 768, sized=True, layout="tokens",
                            hooks=("cam_layer",)),  # fmt: skip
    "swin_tiny": BackboneSpec("timm", "swin_tiny_patch4_window7_224", _cut_swin, 768, sized=True, layout="nhwc"),
}


def build_conventional(
    network: str, num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False,
    use_gpu: bool = False, *, height: int = 288, width: int = 144, allow_missing: tuple[str, ...] = ALLOW_HEAD,
    **kwargs,
) -> ReIDNet:  # fmt: skip
    """A two-stream ``network`` (a key of CONVENTIONAL). ``pretrained``: False, True (the library's ImageNet-1k
    weights), a local file with the library model's state_dict, or a checkpoint of this project. ``height`` /
    ``width`` size the transformers; ``use_gpu`` is accepted for torchreid's ``build_model`` and ignored."""
    if kwargs:
        raise TypeError(f"vi_{network} takes no option(s) {sorted(kwargs)}: it has no FDR")
    spec = CONVENTIONAL[network]
    own, imagenet = split_pretrained(pretrained)
    stem, shared, pool = spec.cut(library_model(spec, imagenet, str(pretrained), size=(height, width)))
    model = ReIDNet(DualPathNet(stem, shared, pool), BNNeck(spec.feat_dim, num_classes), loss)
    return load_own_or_keep(model, own, tuple(allow_missing))


def _factory(network: str):
    def factory(num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False, use_gpu: bool = False,
                **kwargs):  # fmt: skip
        return build_conventional(network, num_classes, loss, pretrained, use_gpu, **kwargs)

    factory.__name__ = factory.__qualname__ = f"vi_{network}"
    factory.__doc__ = f"Two-stream {CONVENTIONAL[network].arch} ({CONVENTIONAL[network].library}), Table 4."
    return factory


for _network, _spec in CONVENTIONAL.items():
    register_model(_factory(_network), ModelCard(f"vi_{_network}", "person", True, _spec.feat_dim, ("height", "width"),
                                                 feature_layout=_spec.layout, hooks=_spec.hooks))  # fmt: skip

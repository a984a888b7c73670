"""Pretraining on an ImageFolder tree: standard pretraining (SP) and Step 1 of the paper (Fig. 2, §3.2), TOP.

SP (``stage sp``) trains the library network itself, single path, with plain cross-entropy and the generic
augmentations: what ImageNet-1k training is to the paper, for a corpus of one's own. Its weights are the library's
own state_dict, so they load wherever ImageNet weights do (``model.load_weights``), TOP included.
TOP (``stage top``): path 1 (visible stem, pre-embedding group 1) sees the colour-augmented view, path 2 (infrared
stem, group 2) the texture-augmented view of the same image; x1, x2 are the two Block4 maps, concatenated into
Blocks 5-7 (x̂1, x̂2).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torchvision.datasets import ImageFolder
from yacs.config import CfgNode as CN

from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.resized_copy import check_copy
from toplight_plugin.core.data.top_augment import TaskOrientedAugment
from toplight_plugin.core.models.backbones import BACKBONES, library_model, unused_keys
from toplight_plugin.core.models.batchnorm import set_batchnorm_momentum
from toplight_plugin.core.models.registry import build, card
from toplight_plugin.core.models.weights import load_state_dict_file
from toplight_plugin.core.training import checkpoint
from toplight_plugin.core.training.top_losses import TOPLoss


def get_default_config() -> CN:
    """Table 2a, "On ImageNet-mini": SGD lr 0.1, cosine decay, weight decay 5e-5, 50 epochs, batch 36 x 2, 224²."""
    cfg = CN()
    cfg.stage = "top"  # top: task-oriented pretraining (writes soup.pth) | sp: standard pretraining (writes sp.pth)
    cfg.model = CN()
    cfg.model.name = "toplight_mobilenetv3_large"
    cfg.model.pretrained = True  # ImageNet-1k weights through the library
    cfg.model.load_weights = ""  # or a local ImageNet state_dict of the library model (an SP run's sp.pth)
    cfg.model.bn_momentum = None  # None: the library's (0.01 on torchvision's MobileNetV3); 0.1 for short runs
    cfg.data = CN()
    cfg.data.root = "data/imagenet-mini/train"
    cfg.data.height = 224
    cfg.data.width = 224
    cfg.data.workers = 4
    cfg.data.save_dir = "output/pretrain/mbv3l"
    cfg.data.norm_mean = [0.485, 0.456, 0.406]  # what VI training normalises with (LightCNN: 0, 1)
    cfg.data.norm_std = [0.229, 0.224, 0.225]
    cfg.data.normalize_on = "auto"  # where uint8 batches are normalised: auto (CUDA: device) | worker | device
    cfg.train = CN()
    cfg.train.lr = 0.1
    cfg.train.momentum = 0.9
    cfg.train.weight_decay = 5e-5
    cfg.train.max_epoch = 50
    cfg.train.grad_clip = 0.0  # largest global gradient norm of a step, 0: no clipping (the paper gives none);
    # a bound for the adversarial term of Eq. 1-2, whose reversed gradient can grow without limit
    cfg.train.batch_size = 36  # source images; each gives two views
    cfg.train.seed = 1
    cfg.train.keep_last = 0  # epoch-N.pth files kept, newest first (0: all; last.pth is always kept)
    cfg.top = CN()
    cfg.top.task_augs = True  # colour / texture augmentations (Table 3 rows 3-5); False: generic only (row 2)
    cfg.top.identity = "idc"  # idc: shared classifier (rows 4-5) | id: one classifier per path (rows 2-3)
    cfg.top.fake_domain = True  # Eq. 1-2 (row 5)
    cfg.top.grl_scale = 0.1  # the GRL's coefficient; the paper gives none. At 1 (Ganin & Lempitsky's end value) 3 of
    # the synthetic ablation's 28 TOP stages collapsed, 2 of its 4 of 40 epochs; at 0.1 its 6 such stages held
    cfg.top.grl_schedule = "constant"  # constant | ganin: scale x (2 / (1 + exp(-10 p)) - 1), p = training progress
    cfg.top.amp = "auto"  # auto (CUDA: bf16, else fp16; CPU: off) | off | bf16 (CUDA or CPU) | fp16 (CUDA)
    return cfg


STAGES = ("top", "sp")


def grl_coefficient(schedule: str, scale: float, progress: float) -> float:
    """The GRL's coefficient at ``progress`` (0 at the first step, 1 at the end): constant, or Ganin &
    Lempitsky's ramp (JMLR 2016, Eq. 14: 2 / (1 + exp(-10 p)) - 1), which keeps the reversed gradient small while
    the domain classifier is still random."""
    if schedule == "constant":
        return scale
    if schedule == "ganin":
        return scale * (2 / (1 + math.exp(-10 * progress)) - 1)
    raise ValueError(f"top.grl_schedule must be constant or ganin, got {schedule!r}")


def collapsed(history: list[float], classes: int) -> bool:
    """Whether the last epoch's identity loss (two cross-entropies, L_idc or L_id) is back near chance, 2 ln classes,
    after it had fallen: a TOP stage whose adversarial game (Eq. 1-2) diverged shows it so, the fake-domain terms
    jumping, without a NaN on the way. "Back": three quarters of the fall undone, from at least a tenth below
    chance."""
    chance = 2 * math.log(classes)
    best = min(history[:-1], default=chance)
    return best <= 0.9 * chance and history[-1] >= best + 0.75 * (chance - best)


class PairedImageFolder(torch.utils.data.Dataset):
    """An ImageFolder tree giving (view 1, view 2, class) per image; (view, class) with a one-view augmentation."""

    def __init__(self, root: str | Path, augment: TaskOrientedAugment):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolder root {root} does not exist (expected <root>/<class>/<image>)")
        check_copy(root, augment.height, augment.width)  # an unfinished resized copy, or one at another size
        folder = ImageFolder(str(root))  # raises naming the folder when no class has an image
        self.samples, self.classes = folder.samples, folder.classes
        self.augment = augment

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        return *self.augment(np.asarray(read_image(path))), label


class TOPModel(nn.Module):
    """The two-group network, its pretraining losses and, for L_id (rows 2-3), path 2's own classifier."""

    def __init__(self, cfg: CN, num_classes: int):
        super().__init__()
        if 2 not in card(cfg.model.name).pre_groups:
            raise ValueError(f"model.name {cfg.model.name}: TOP pretraining needs a model with two pre-embedding "
                             "groups (its card's pre_groups), e.g. toplight_<backbone>")  # fmt: skip
        pretrained = cfg.model.load_weights or bool(cfg.model.pretrained)
        self.net = build(cfg.model.name, num_classes, loss="softmax", pretrained=pretrained, pre_groups=2, fdr=None,
                         height=cfg.data.height, width=cfg.data.width)  # fmt: skip
        set_batchnorm_momentum(self.net, cfg.model.bn_momentum)
        with torch.no_grad():
            backbone = self.net.backbone.eval()
            mid = backbone.forward_pre(torch.zeros(1, 3, cfg.data.height, cfg.data.width), 0)
            mid_channels, feat_dim = mid.shape[1], backbone.forward_post(mid).shape[1]
        self.loss = TOPLoss(mid_channels, feat_dim, cfg.top.identity or None, cfg.top.fake_domain, cfg.top.grl_scale)
        self.classifier2 = nn.Linear(feat_dim, num_classes, bias=False) if cfg.top.identity == "id" else None
        self.grl_schedule, self.grl_scale = cfg.top.grl_schedule, cfg.top.grl_scale
        self.set_progress(0.0)

    def set_progress(self, progress: float) -> None:
        """Training progress in [0, 1], for the GRL's schedule."""
        self.loss.grl.scale = grl_coefficient(self.grl_schedule, self.grl_scale, progress)

    def model_state(self) -> dict:
        """The network's checkpoint entries, its model card with them."""
        return checkpoint.model_state(self.net)

    def forward(self, v1, v2, labels) -> dict[str, torch.Tensor]:
        backbone, head = self.net.backbone, self.net.head
        x1, x2 = backbone.forward_pre(v1, 0), backbone.forward_pre(v2, 1)
        features = backbone.forward_post(torch.cat([x1, x2]))  # x̂ = {x̂1, x̂2}
        embedded = head.embed(features)
        logits = head.classify(embedded)  # the one shared classifier (Eq. 3)
        logits1, logits2 = logits.chunk(2)
        if self.classifier2 is not None:
            logits2 = self.classifier2(embedded.chunk(2)[1])
        feat1, feat2 = features.chunk(2)
        return self.loss(x1, x2, feat1, feat2, logits1, logits2, labels)


def backbone_of(model_name: str) -> str:
    """The backbone whose library network SP trains: the one the model's card says it is cut from."""
    name = card(model_name).backbone
    if not name:
        raise ValueError(f"model.name {model_name!r}: standard pretraining needs a model cut from a library "
                         f"network (its card's backbone), one of {sorted(BACKBONES)}")  # fmt: skip
    return name


class SPModel(nn.Module):
    """Standard pretraining: the library network, its classifier resized to the corpus's classes, cross-entropy.
    ``net`` is the library model, so its state_dict is the library's own."""

    def __init__(self, cfg: CN, num_classes: int):
        super().__init__()
        spec = BACKBONES[backbone_of(cfg.model.name)]
        start = load_state_dict_file(cfg.model.load_weights) if cfg.model.load_weights else bool(cfg.model.pretrained)
        self.net = library_model(spec, start, cfg.model.load_weights or spec.arch)
        classifier = sorted(unused_keys(spec, self.net))[0].rsplit(".", 1)[0]  # the one layer the cut leaves out
        parent, _, leaf = classifier.rpartition(".")
        old = self.net.get_submodule(classifier)
        setattr(self.net.get_submodule(parent) if parent else self.net, leaf, nn.Linear(old.in_features, num_classes))
        set_batchnorm_momentum(self.net, cfg.model.bn_momentum)

    def set_progress(self, progress: float) -> None:
        """SP has no schedule inside its loss."""

    def model_state(self) -> dict:
        """The library network's own state_dict, without a model card: it loads wherever ImageNet weights do."""
        return {"state_dict": self.net.state_dict()}

    def forward(self, images, labels) -> dict[str, torch.Tensor]:
        return {"loss": nn.functional.cross_entropy(self.net(images), labels)}


def build_stage(cfg: CN, num_classes: int) -> nn.Module:
    """The model ``cfg.stage`` trains: SPModel or TOPModel."""
    if cfg.stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {cfg.stage!r}")
    return SPModel(cfg, num_classes) if cfg.stage == "sp" else TOPModel(cfg, num_classes)

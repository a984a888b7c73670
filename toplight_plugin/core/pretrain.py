"""Step 1 of the paper (Fig. 2, §3.2): task-oriented pretraining of the dual-path network on an ImageFolder tree.

Path 1 (visible stem, pre-embedding group 1) sees the colour-augmented view, path 2 (infrared stem, group 2) the
texture-augmented view of the same image; x1, x2 are the two Block4 maps, concatenated into Blocks 5-7 (x̂1, x̂2).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torchvision.datasets import ImageFolder
from yacs.config import CfgNode as CN

from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.registry import build
from toplight_plugin.core.top_augment import TaskOrientedAugment
from toplight_plugin.core.top_losses import TOPLoss


def get_default_config() -> CN:
    """Table 2a, "On ImageNet-mini": SGD lr 0.1, cosine decay, weight decay 5e-5, 50 epochs, batch 36 x 2, 224²."""
    cfg = CN()
    cfg.model = CN()
    cfg.model.name = "toplight_mobilenetv3_large"
    cfg.model.pretrained = True  # ImageNet-1k weights through the library
    cfg.model.load_weights = ""  # or a local ImageNet state_dict of the library model
    cfg.data = CN()
    cfg.data.root = "data/imagenet-mini/train"
    cfg.data.height = 224
    cfg.data.width = 224
    cfg.data.workers = 4
    cfg.data.save_dir = "output/pretrain/mbv3l"
    cfg.data.norm_mean = [0.485, 0.456, 0.406]  # what VI training normalises with (LightCNN: 0, 1)
    cfg.data.norm_std = [0.229, 0.224, 0.225]
    cfg.train = CN()
    cfg.train.lr = 0.1
    cfg.train.momentum = 0.9
    cfg.train.weight_decay = 5e-5
    cfg.train.max_epoch = 50
    cfg.train.batch_size = 36  # source images; each gives two views
    cfg.train.seed = 1
    cfg.top = CN()
    cfg.top.task_augs = True  # colour / texture augmentations (Table 3 rows 3-5); False: generic only (row 2)
    cfg.top.identity = "idc"  # idc: shared classifier (rows 4-5) | id: one classifier per path (rows 2-3)
    cfg.top.fake_domain = True  # Eq. 1-2 (row 5)
    cfg.top.grl_scale = 1.0
    cfg.top.amp = "off"  # off | bf16 | fp16 (CUDA only)
    return cfg


class PairedImageFolder(torch.utils.data.Dataset):
    """An ImageFolder tree giving (view 1, view 2, class) per image."""

    def __init__(self, root: str | Path, augment: TaskOrientedAugment):
        root = Path(root)
        if not root.is_dir():
            raise FileNotFoundError(f"ImageFolder root {root} does not exist (expected <root>/<class>/<image>)")
        folder = ImageFolder(str(root))  # raises naming the folder when no class has an image
        self.samples, self.classes = folder.samples, folder.classes
        self.augment = augment

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, index):
        path, label = self.samples[index]
        v1, v2 = self.augment(np.asarray(read_image(path)))
        return v1, v2, label


class TOPModel(nn.Module):
    """The two-group network, its pretraining losses and, for L_id (rows 2-3), path 2's own classifier."""

    def __init__(self, cfg: CN, num_classes: int):
        super().__init__()
        pretrained = cfg.model.load_weights or bool(cfg.model.pretrained)
        self.net = build(cfg.model.name, num_classes, loss="softmax", pretrained=pretrained, pre_groups=2, fdr=None,
                         height=cfg.data.height, width=cfg.data.width)  # fmt: skip
        with torch.no_grad():
            backbone = self.net.backbone.eval()
            mid = backbone.forward_pre(torch.zeros(1, 3, cfg.data.height, cfg.data.width), 0)
            mid_channels, feat_dim = mid.shape[1], backbone.forward_post(mid).shape[1]
        self.loss = TOPLoss(mid_channels, feat_dim, cfg.top.identity or None, cfg.top.fake_domain, cfg.top.grl_scale)
        self.classifier2 = nn.Linear(feat_dim, num_classes, bias=False) if cfg.top.identity == "id" else None

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

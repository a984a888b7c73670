"""Helpers of the fast-reid host's tests (test_fastreid*.py): fast-reid's trainer at toy size, and a plugin
checkpoint whose features tell the images apart without training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from toplight_plugin.core.data import sysu_mm01
from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.transforms import test_transform
from toplight_plugin.core.models.batchnorm import recalibrate_batchnorm
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config

CONFIG = "synthetic/mbv3s_fdr.yaml"  # the torchreid host's recipe that configs/fastreid/synthetic.yaml mirrors
TORCHREID_SMALL = ["data.height", "64", "data.width", "32", "data.workers", "0", "toplight.trials", "2"]
SMALL = ["INPUT.SIZE_TRAIN", "[64, 32]", "INPUT.SIZE_TEST", "[64, 32]", "DATALOADER.NUM_WORKERS", "0",
         "TOPLIGHT.TRIALS", "2", "SOLVER.IMS_PER_BATCH", "32", "SOLVER.WARMUP_ITERS", "0"]  # fmt: skip


def fastreid_args(root: Path, output: Path, *flags: str, opts=()) -> list[str]:
    """``toplight-fastreid`` arguments for configs/fastreid/synthetic.yaml on the SYSU-MM01 tree at ``root``."""
    return ["--config-file", "fastreid/synthetic", *flags, *SMALL, "TOPLIGHT.ROOT", str(root.parent), "OUTPUT_DIR",
            str(output), *map(str, opts)]  # fmt: skip


def calibrated_checkpoint(root: Path, path: Path) -> Path:
    """The torchreid recipe's model from random weights, its BatchNorm statistics measured on the training images
    of both modalities (random statistics make every feature alike), saved as the torchreid host saves one."""
    cfg = load_config(CONFIG, TORCHREID_SMALL)
    model = build_model(cfg, num_classes=1)
    transform = test_transform(64, 32, cfg.data.norm_mean, cfg.data.norm_std)
    records = sysu_mm01.train_records(root)
    images = torch.stack([transform(image=np.asarray(read_image(r.path)))["image"] for r in records])
    modality = torch.tensor([r.modality for r in records])
    with torch.no_grad():
        recalibrate_batchnorm(model, [(images[i : i + 64], modality[i : i + 64]) for i in range(0, len(records), 64)])
    torch.save({"state_dict": model.state_dict()}, path)
    return path

"""The reference learner: a stock torchreid model (``osnet_x0_25``, ``resnet18``, ...) trained by torchreid's own
``ImageTripletEngine`` (its loop, losses and optimizer step) on the plugin's dataset and cross-modality sampler,
tested with the published protocol (native.py's hook, as for any torchreid engine). It sees each image without its
modality, as any torchreid model would; it is what a TOPLight model's learning is compared with on the same data and
budget (docs/learning.md)."""

from __future__ import annotations

from pathlib import Path

import torch

from toplight_plugin.core.evaluation.protocols import ProtocolOptions

from . import compat
from .build import build_datamanager


class ReferenceEngine(compat.torchreid().engine.ImageTripletEngine):
    """torchreid's ImageTripletEngine with the config's protocol options and save folder."""

    def __init__(self, datamanager, model, optimizer, scheduler, protocol: ProtocolOptions, save_dir: str, **loss):
        super().__init__(datamanager, model, optimizer, scheduler=scheduler, use_gpu=torch.cuda.is_available(),
                         **loss)  # fmt: skip
        self.protocol, self.save_dir = protocol, Path(save_dir)
        self.model = model.to("cuda" if self.use_gpu else "cpu")


def build_reference(cfg) -> ReferenceEngine:
    """Data manager, model (torchreid's ``build_model``, random weights unless ``model.pretrained``), torchreid's
    optimizer (``train.optim``: adam, amsgrad, sgd, rmsprop, radam) and multi-step scheduler, and the engine."""
    reid = compat.torchreid()
    if cfg.model.name not in compat.model_factory():
        raise ValueError(f"model.name {cfg.model.name!r} is not one of torchreid's own models")
    datamanager = build_datamanager(cfg, torch.cuda.is_available())
    model = reid.models.build_model(cfg.model.name, datamanager.num_train_pids, loss="triplet",
                                    pretrained=bool(cfg.model.pretrained))  # fmt: skip
    optimizer = reid.optim.build_optimizer(model, optim=cfg.train.optim, lr=cfg.train.lr,
                                           weight_decay=cfg.train.weight_decay)  # fmt: skip
    scheduler = reid.optim.build_lr_scheduler(optimizer, "multi_step", list(cfg.train.stepsize), cfg.train.gamma)
    protocol = ProtocolOptions(tuple(cfg.toplight.sysu_mode), cfg.toplight.trials, cfg.toplight.shots,
                               cfg.toplight.rand_perm)  # fmt: skip
    return ReferenceEngine(
        datamanager, model, optimizer, scheduler, protocol, cfg.data.save_dir, margin=cfg.loss.triplet.margin,
        weight_t=cfg.loss.triplet.weight_t, weight_x=cfg.loss.triplet.weight_x,
        label_smooth=bool(cfg.loss.softmax.label_smooth),
    )  # fmt: skip

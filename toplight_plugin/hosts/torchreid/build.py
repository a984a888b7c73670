"""From a config to torchreid objects: data manager, model, optimizer, scheduler and the VI engine."""

from __future__ import annotations

import torch

from toplight_plugin.core.data.device_normalize import on_device
from toplight_plugin.core.data.loading import PersistentLoader
from toplight_plugin.core.data.transforms import PRESETS, ModalityAugment, device_normalize
from toplight_plugin.core.evaluation.protocols import ProtocolOptions
from toplight_plugin.core.models.cards import card_of
from toplight_plugin.core.training import distributed
from toplight_plugin.core.training.losses import IdentityTripletLoss
from toplight_plugin.core.training.schedule import EpochSchedule, build_scheduler
from toplight_plugin.hosts.torchreid import compat

from .datasets import dataset_options
from .engine import VIEngine
from .register import register_all


def normalises_on_device(cfg, use_gpu: bool) -> bool:
    """Whether the training batches leave the workers as uint8 (``toplight.normalize_on``); torchreid's own
    transforms (``toplight.augment torchreid``) always normalise in the workers."""
    device = torch.device("cuda" if use_gpu else "cpu")
    choice = on_device(cfg.toplight.normalize_on, device, "toplight.normalize_on")
    return choice and cfg.toplight.augment != "torchreid"


def build_augment(cfg, use_gpu: bool):
    """A preset of core.transforms.PRESETS (``caj``, ``basic``, ``flip``), or ``torchreid``: its own
    ``data.transforms``."""
    if cfg.toplight.augment == "torchreid":
        return None
    if cfg.toplight.augment not in PRESETS:
        raise ValueError(
            f"toplight.augment must be one of {[*PRESETS, 'torchreid']}, got {cfg.toplight.augment!r}"
        )
    return ModalityAugment.preset(cfg.toplight.augment, cfg.data.height, cfg.data.width, tuple(cfg.data.norm_mean),
                                  tuple(cfg.data.norm_std), normalises_on_device(cfg, use_gpu))  # fmt: skip


def build_datamanager(cfg, use_gpu: bool):
    register_all()
    options = dict(
        augment=build_augment(cfg, use_gpu),
        sysu_mode=cfg.toplight.sysu_mode[0],
        shots=cfg.toplight.shots,
        rand_perm=cfg.toplight.rand_perm,
        bad_images=cfg.toplight.bad_images,
    )
    with dataset_options(**options):
        datamanager = compat.data().ImageDataManager(
            root=cfg.data.root,
            sources=list(cfg.data.sources),
            targets=list(cfg.data.targets),
            height=cfg.data.height,
            width=cfg.data.width,
            transforms=list(cfg.data.transforms),
            norm_mean=list(cfg.data.norm_mean),
            norm_std=list(cfg.data.norm_std),
            use_gpu=use_gpu,
            split_id=cfg.data.split_id,
            combineall=cfg.data.combineall,
            batch_size_train=cfg.train.batch_size,
            batch_size_test=cfg.test.batch_size,
            workers=cfg.data.workers,
            num_instances=cfg.sampler.num_instances,
            # evaluation alone draws no training batch: the PK sampler's batch constraints would refuse a small set
            train_sampler="RandomSampler" if cfg.test.evaluate else cfg.sampler.train_sampler,
        )
    if cfg.data.workers > 0 and not cfg.test.evaluate:  # before the engine takes the loader
        datamanager.train_loader = PersistentLoader(datamanager.train_loader)
    return datamanager


def _optimizer(cfg, groups, fused: bool) -> torch.optim.Optimizer:
    """torchreid's ``train.optim`` names with its keys (``sgd.*``, ``rmsprop.alpha``, ``adam.beta1/2``), plus AdamW.
    ``fused`` (parameters on CUDA): one kernel per step, and fp16's scaler then skips a step without a host read."""
    name, lr, decay = cfg.train.optim, cfg.train.lr, cfg.train.weight_decay
    betas = (cfg.adam.beta1, cfg.adam.beta2)
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(groups, lr=lr, weight_decay=decay, betas=betas, amsgrad=name == "amsgrad",
                                fused=fused)  # fmt: skip
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr, weight_decay=decay, betas=betas, fused=fused)
    if name == "radam":
        return torch.optim.RAdam(groups, lr=lr, weight_decay=decay, betas=betas)
    if name == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, weight_decay=decay, momentum=cfg.sgd.momentum,
                                   alpha=cfg.rmsprop.alpha)  # fmt: skip
    return torch.optim.SGD(groups, lr=lr, momentum=cfg.sgd.momentum, dampening=cfg.sgd.dampening,
                           nesterov=cfg.sgd.nesterov, weight_decay=decay, fused=fused)  # fmt: skip


def build_optimizer(cfg, model) -> torch.optim.Optimizer:
    """``train.optim`` (config_checks.OPTIMIZERS: AdamW for the paper, SGD for AGW, torchreid's others) with
    torchreid's staged learning rate: the modules named in ``train.new_layers`` get ``train.lr``, the rest
    ``train.lr * train.base_lr_mult``. Frozen parameters (the BNNeck shift) stay out of the optimizer: torchreid's
    loop re-enables every gradient."""
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": cfg.train.lr}]
    if cfg.train.staged_lr:
        missing = [n for n in cfg.train.new_layers if not isinstance(getattr(model, n, None), torch.nn.Module)]
        if missing:
            raise ValueError(f"train.new_layers: the model has no module(s) {missing}")
        new = {id(p) for n in cfg.train.new_layers for p in getattr(model, n).parameters()}
        base = [p for p in groups[0]["params"] if id(p) not in new]
        groups = [
            {"params": base, "lr": cfg.train.lr * cfg.train.base_lr_mult},
            {"params": [p for p in groups[0]["params"] if id(p) in new], "lr": cfg.train.lr},
        ]
    return _optimizer(cfg, groups, fused=next(model.parameters()).is_cuda)


def check_open_layers(cfg, model) -> None:
    """``train.fixbase_epoch`` / ``train.open_layers`` run in torchreid's loop (``open_specified_layers`` each epoch):
    checked here, before any data is read, with the names the model has instead of torchreid's assert."""
    if not cfg.train.fixbase_epoch:
        return
    if distributed.active():
        raise ValueError("train.fixbase_epoch: freezing layers under torchrun is not supported (DistributedDataParallel"
                         " expects a gradient for every parameter); set it to 0 or train on one process")  # fmt: skip
    layers = [name for name, _ in model.named_children()]
    unknown = [name for name in cfg.train.open_layers if name not in layers]
    if unknown:
        raise ValueError(f"train.open_layers: {cfg.model.name} has no top-level layer {unknown} (torchreid opens "
                         f"layers by attribute name); its layers are {layers}")  # fmt: skip


def build_engine(cfg, datamanager, model, use_gpu: bool) -> VIEngine:
    check_open_layers(cfg, model)
    if use_gpu:  # before the optimizer: a fused one takes CUDA parameters
        model.to(torch.device("cuda", torch.cuda.current_device()))
    optimizer = build_optimizer(cfg, model)
    schedule = EpochSchedule(cfg.train.lr_scheduler, cfg.toplight.warmup_epochs, cfg.train.stepsize, cfg.train.gamma,
                             cfg.train.max_epoch)  # fmt: skip
    scheduler = build_scheduler(optimizer, schedule)
    criterion = IdentityTripletLoss(
        gamma=cfg.loss.triplet.weight_t if cfg.loss.name == "triplet" else 0.0,
        id_weight=cfg.loss.triplet.weight_x if cfg.loss.name == "triplet" else 1.0,
        margin=cfg.loss.triplet.margin,
        label_smooth=0.1 if cfg.loss.softmax.label_smooth else 0.0,
        triplet=cfg.toplight.triplet,
    )
    if "wrap_loss" in card_of(model).hooks:  # a baseline with its own training losses around L_id + L_tri (DDAG)
        criterion = model.wrap_loss(criterion)
    protocol = ProtocolOptions(
        tuple(cfg.toplight.sysu_mode), cfg.toplight.trials, cfg.toplight.shots, cfg.toplight.rand_perm
    )
    on_device_batches = normalises_on_device(cfg, use_gpu)
    return VIEngine(
        datamanager,
        model,
        optimizer,
        scheduler,
        criterion,
        cfg.data.save_dir,
        seed=cfg.train.seed,
        amp=cfg.toplight.amp,
        channels_last=cfg.toplight.channels_last,
        compile_model=cfg.toplight.compile,
        sync_bn=cfg.toplight.sync_bn,
        checkpoint_every=cfg.toplight.checkpoint_every,
        keep_last=cfg.toplight.keep_last,
        protocol=protocol,
        use_gpu=use_gpu,
        normalize=device_normalize(cfg.data.norm_mean, cfg.data.norm_std) if on_device_batches else None,
    )

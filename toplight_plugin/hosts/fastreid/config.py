"""``add_toplight_config(cfg)``: the TOPLIGHT node a fast-reid config gains, as fast-reid projects add theirs, and
the translations from a fast-reid config to what the core reads (model options, losses, protocol).

fast-reid's own keys keep their meaning where the plugin has the same notion: ``MODEL.BACKBONE.NAME`` (a registered
plugin model), ``MODEL.BACKBONE.PRETRAIN`` / ``PRETRAIN_PATH`` / ``LAST_STRIDE``, ``MODEL.PIXEL_MEAN`` / ``PIXEL_STD``
(0-255 scale), ``INPUT.SIZE_TRAIN`` / ``SIZE_TEST``, ``DATALOADER.NUM_INSTANCE`` (K images per modality),
``SOLVER.IMS_PER_BATCH`` and ``MODEL.LOSSES.CE.EPSILON`` / ``CE.SCALE`` / ``TRI.MARGIN`` / ``TRI.SCALE``.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch
from fastreid.config import CfgNode as CN

from toplight_plugin.core.data.device_normalize import on_device
from toplight_plugin.core.evaluation.protocols import ProtocolOptions
from toplight_plugin.core.training.config import get_default_config
from toplight_plugin.core.training.losses import IdentityTripletLoss

META_ARCHITECTURE = "TOPLightBaseline"
SAMPLER = "CrossModalityPKSampler"
LOSSES = ("CrossEntropyLoss", "TripletLoss")  # what the meta-architecture computes (core.training.losses)


def add_toplight_config(cfg: CN) -> None:
    """Add the TOPLIGHT node (defaults: the paper's recipe, as core.training.config has them)."""
    _C = cfg
    _C.TOPLIGHT = CN()
    _C.TOPLIGHT.ROOT = ""  # dataset root; "" = fast-reid's: $FASTREID_DATASETS, else "datasets"
    _C.TOPLIGHT.ALLOW_MISSING = []  # key prefixes PRETRAIN_PATH may leave at their initial values ("backbone.neck.")
    _C.TOPLIGHT.BN_MOMENTUM = None  # None: each library's own BatchNorm momentum; 0.1 from scratch
    _C.TOPLIGHT.AUGMENT = "paper"  # per-modality training augmentation: core.data.transforms.PRESETS
    _C.TOPLIGHT.NORMALIZE_ON = "auto"  # where uint8 batches are normalised: auto (cuda: device) | worker | device
    _C.TOPLIGHT.TRIPLET = "batch_hard"  # batch_hard (the paper) | wrt (AGW, margin-free)
    _C.TOPLIGHT.BAD_IMAGES = "fail"  # fail | check | skip (core.data.images.screen)

    _C.TOPLIGHT.FDR = CN()  # Eq. 5-11; NAME "" builds no FDR (docs/models.md)
    _C.TOPLIGHT.FDR.NAME = "hs+vs"
    _C.TOPLIGHT.FDR.SIGMA = 2
    _C.TOPLIGHT.FDR.MU = 3
    _C.TOPLIGHT.FDR.ATTENTION = "sa"
    _C.TOPLIGHT.FDR.UPSAMPLE = True
    _C.TOPLIGHT.FDR.GROUPS = 1
    _C.TOPLIGHT.FDR.READING = "spatial"

    _C.TOPLIGHT.SYSU_MODE = ["all", "indoor"]  # SYSU-MM01 search modes evaluated
    _C.TOPLIGHT.TRIALS = 10  # SYSU-MM01 gallery trials 0..TRIALS-1
    _C.TOPLIGHT.SHOTS = 1
    _C.TOPLIGHT.RAND_PERM = ""  # the official kit's rand_perm_cam.mat instead of random.seed(trial)
    _C.TOPLIGHT.REGDB_TRIAL = 1  # RegDB split 1..10, trained and tested on the same one
    _C.TOPLIGHT.REGDB_DIRECTION = "v2i"  # the query modality of the first figures; both directions are evaluated

    _C.MODEL.META_ARCHITECTURE = META_ARCHITECTURE
    _C.DATALOADER.SAMPLER_TRAIN = SAMPLER


def core_config(cfg: CN):
    """The core training config holding this fast-reid config's model options, so that the model is built by the
    same code for every host (core.models.configured.build_model)."""
    core = get_default_config()
    core.model.name = cfg.MODEL.BACKBONE.NAME
    core.model.pretrained = bool(cfg.MODEL.BACKBONE.PRETRAIN)
    core.model.load_weights = cfg.MODEL.BACKBONE.PRETRAIN_PATH
    core.model.allow_missing = list(cfg.TOPLIGHT.ALLOW_MISSING)
    core.data.height, core.data.width = (int(v) for v in cfg.INPUT.SIZE_TRAIN)
    fdr = cfg.TOPLIGHT.FDR
    core.toplight.fdr, core.toplight.fdr_sigma, core.toplight.fdr_mu = fdr.NAME, fdr.SIGMA, fdr.MU
    core.toplight.fdr_attention, core.toplight.fdr_upsample = fdr.ATTENTION, fdr.UPSAMPLE
    core.toplight.fdr_groups, core.toplight.fdr_reading = fdr.GROUPS, fdr.READING
    core.toplight.last_stride = cfg.MODEL.BACKBONE.LAST_STRIDE
    core.toplight.bn_momentum = cfg.TOPLIGHT.BN_MOMENTUM
    return core


def normalisation(cfg: CN) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """``MODEL.PIXEL_MEAN`` / ``PIXEL_STD`` (fast-reid's 0-255 scale) as the 0-1 mean / std the transforms take."""
    return tuple(v / 255 for v in cfg.MODEL.PIXEL_MEAN), tuple(v / 255 for v in cfg.MODEL.PIXEL_STD)


def device_batches(cfg: CN) -> bool:
    """Whether training batches leave the workers as uint8, normalised by the model (TOPLIGHT.NORMALIZE_ON)."""
    return on_device(cfg.TOPLIGHT.NORMALIZE_ON, torch.device(cfg.MODEL.DEVICE), "TOPLIGHT.NORMALIZE_ON")


def build_loss(cfg: CN) -> IdentityTripletLoss:
    """``MODEL.LOSSES``: NAME among LOSSES; CE.EPSILON is the label smoothing, CE.SCALE and TRI.SCALE the weights of
    L_id and L_tri (Eq. 12: 1 and gamma), TRI.MARGIN the batch-hard margin."""
    names, losses = tuple(cfg.MODEL.LOSSES.NAME), cfg.MODEL.LOSSES
    unknown = [name for name in names if name not in LOSSES]
    if unknown or not names:
        raise ValueError(f"MODEL.LOSSES.NAME: {META_ARCHITECTURE} computes {list(LOSSES)}, got {list(names)}")
    return IdentityTripletLoss(
        gamma=losses.TRI.SCALE if "TripletLoss" in names else 0.0,
        margin=losses.TRI.MARGIN,
        label_smooth=losses.CE.EPSILON,
        triplet=cfg.TOPLIGHT.TRIPLET,
        id_weight=losses.CE.SCALE if "CrossEntropyLoss" in names else 0.0,
    )


def protocol_options(cfg: CN) -> ProtocolOptions:
    top = cfg.TOPLIGHT
    return ProtocolOptions(tuple(top.SYSU_MODE), top.TRIALS, top.SHOTS, top.RAND_PERM)


@contextmanager
def named(source: str):
    """yacs reports an unknown key (KeyError, or AssertionError for an odd override list) and a wrong type without
    saying where it came from: re-raised as one KeyError / ValueError that names the source."""
    try:
        yield
    except (KeyError, AssertionError) as error:
        message = str(error.args[0]) if error.args else repr(error)
        raise KeyError(f"{source}: {message} (fast-reid's keys and the TOPLIGHT node, docs/fastreid.md)") from None
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None

"""The plugin's networks in fast-reid's registries: every registered model as a BACKBONE entry built from the config,
and the ``TOPLightBaseline`` meta-architecture that gives each image's modality to the dual-path network.

The BACKBONE entry is the whole core network, its BNNeck head included, so that a fast-reid run and a torchreid run
hold the same tensors under the same names (prefixed ``backbone.``) and the core's checkpoints load in either host.
"""

from __future__ import annotations

import torch
from fastreid.config import configurable
from fastreid.modeling.backbones import BACKBONE_REGISTRY, build_backbone
from fastreid.modeling.losses import log_accuracy
from fastreid.modeling.meta_arch import META_ARCH_REGISTRY, Baseline
from torch import nn

from toplight_plugin.core.data.transforms import device_normalize
from toplight_plugin.core.models import MODELS
from toplight_plugin.core.models.configured import build_model

from .config import build_loss, core_config, normalisation


def _backbone(name: str):
    def build(cfg) -> nn.Module:
        """The configured plugin model (core.models.configured.build_model): TOPLIGHT.FDR, INPUT.SIZE_TRAIN,
        MODEL.BACKBONE.PRETRAIN / PRETRAIN_PATH / LAST_STRIDE; MODEL.HEADS.NUM_CLASSES identities (fast-reid sets it
        from the training set; 0 at evaluation, where the classifier is unused)."""
        return build_model(core_config(cfg), max(int(cfg.MODEL.HEADS.NUM_CLASSES), 1))

    build.__name__ = build.__qualname__ = name
    return build


def register_backbones() -> None:
    """Every model of the core registry, by its name; idempotent (a variant registered later is added on the next
    call, which building the meta-architecture makes)."""
    for name in MODELS:
        try:
            BACKBONE_REGISTRY.get(name)
        except KeyError:
            BACKBONE_REGISTRY.register(_backbone(name))


@META_ARCH_REGISTRY.register()
class TOPLightBaseline(Baseline):
    """fast-reid's Baseline with the modality routed: ``batched_inputs["modality"]`` (0 visible, 1 infrared, one per
    image, added by the plugin's datasets) picks each image's stem. Training returns L_id and L_tri (Eq. 12, core
    losses); evaluation returns the retrieval features. A bare image tensor is taken as visible.

    Images arrive normalised by the plugin's transforms (which read MODEL.PIXEL_MEAN / PIXEL_STD), or as uint8
    training batches with their post-normalisation steps (TOPLIGHT.NORMALIZE_ON), which ``preprocess_image``
    finishes on the model's device."""

    @configurable
    def __init__(self, *, backbone, criterion, pixel_mean, pixel_std, normalize):
        super().__init__(backbone=backbone, heads=nn.Identity(), pixel_mean=pixel_mean, pixel_std=pixel_std)
        self.criterion, self.normalize = criterion, normalize

    @classmethod
    def from_config(cls, cfg):
        register_backbones()
        name = cfg.MODEL.BACKBONE.NAME
        if name not in MODELS:
            raise KeyError(f"MODEL.BACKBONE.NAME {name!r} is not a plugin model; expected one of {sorted(MODELS)}")
        return {
            "backbone": build_backbone(cfg),
            "criterion": build_loss(cfg),
            "pixel_mean": cfg.MODEL.PIXEL_MEAN,
            "pixel_std": cfg.MODEL.PIXEL_STD,
            "normalize": device_normalize(*normalisation(cfg)),
        }

    def preprocess_image(self, batched_inputs) -> torch.Tensor:
        images = batched_inputs["images"] if isinstance(batched_inputs, dict) else batched_inputs
        images = images.to(self.device, non_blocking=True)
        return self.normalize(images, batched_inputs["post_ops"]) if images.dtype == torch.uint8 else images

    def forward(self, batched_inputs):
        images = self.preprocess_image(batched_inputs)
        modality = batched_inputs.get("modality") if isinstance(batched_inputs, dict) else None
        if modality is not None:
            modality = modality.to(self.device)
        if not self.training:
            return self.backbone(images, modality)
        if modality is None:
            raise ValueError("training batches must carry 'modality' (the plugin's datasets add it)")
        targets = batched_inputs["targets"].to(self.device)
        outputs = self.backbone(images, modality)
        if len(outputs) != 2:
            raise ValueError(f"{type(self.backbone).__name__} returns {len(outputs)} training outputs; this host "
                             "trains models that return (logits, features)")  # fmt: skip
        logits, features = outputs
        log_accuracy(logits.detach(), targets)
        losses = self.criterion(logits, features, targets)
        return {
            "loss_cls": self.criterion.id_weight * losses["loss_id"],
            "loss_triplet": self.criterion.gamma * losses["loss_tri"],
        }

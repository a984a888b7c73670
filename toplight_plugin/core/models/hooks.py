"""The hooks a model may implement beyond torchreid's contract, each declared here as a Protocol. A model's card
names the hooks it implements (``ModelCard.hooks``; routing comes with ``ModelCard.dual_path``), and hosts and tools
call a hook only where the card names it."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
import torch.nn as nn


@runtime_checkable
class RoutesModality(Protocol):
    """``model.backbone`` of a dual-path model: told the modality codes of the next forward call made with the
    images alone (how torchreid's stock engines call a model)."""

    def route_next(self, modality: torch.Tensor) -> None: ...


@runtime_checkable
class TakesPids(Protocol):
    """A model whose training branches need the batch's identities: ``model(images, modality, pids)``."""

    def __call__(self, x: torch.Tensor, modality: torch.Tensor, pids: torch.Tensor): ...


@runtime_checkable
class EndsEpoch(Protocol):
    """A model that updates state of its own from an epoch's mean losses, before the epoch's checkpoint."""

    def end_epoch(self, means: dict[str, float]) -> None: ...


@runtime_checkable
class WrapsLoss(Protocol):
    """A model with its own training losses around L_id + L_tri."""

    def wrap_loss(self, base: nn.Module) -> nn.Module: ...


@runtime_checkable
class NamesCamLayer(Protocol):
    """``model.backbone.pre[0]`` of a model whose Block4 output Grad-CAM cannot explain: the layer it explains."""

    cam_layer: nn.Module


HOOKS: dict[str, type] = {
    "takes_pids": TakesPids,
    "end_epoch": EndsEpoch,
    "wrap_loss": WrapsLoss,
    "cam_layer": NamesCamLayer,
}

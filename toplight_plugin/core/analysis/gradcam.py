"""Grad-CAM (Selvaraju et al. 2017) of a re-id network before and after its FDR module (the paper's Fig. 5).

A retrieval network has no class to explain, so the score explained is the squared length of the image's own
retrieval feature (its gradient is the feature itself): the map shows where the descriptor draws its energy.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from toplight_plugin.core.models.cards import card_of
from toplight_plugin.core.models.dual_path import DualPathNet
from toplight_plugin.core.models.heads import ReIDNet


def _cam(activation: torch.Tensor, gradient: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    weights = gradient.mean(dim=(2, 3), keepdim=True)  # alpha_k: the spatially pooled gradients
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=size, mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(dim=1)
    return cam / torch.where(peak > 0, peak, torch.ones_like(peak))[:, None, None]  # an all-zero map stays zero


def grad_cam(model: ReIDNet, images: torch.Tensor, modality: int | torch.Tensor) -> dict[str, torch.Tensor]:
    """Maps in [0, 1] at the input size: ``{"before FDR": (N, H, W), "after FDR": (N, H, W)}``; a model without
    FDR gives the Block4 map alone, a token model (ViT) the map of the layer its trunk names (the ``cam_layer``
    hook its card lists)."""
    backbone = model.backbone
    if not isinstance(backbone, DualPathNet):
        raise ValueError("Grad-CAM is drawn at Block4 and the FDR, which only dual-path models have")
    model.eval()
    caught, hook = [], None
    if "cam_layer" in card_of(model).hooks:
        hook = backbone.pre[0].cam_layer.register_forward_hook(lambda module, args, output: caught.append(output))
    try:
        with torch.enable_grad():
            z = backbone.forward_pre(images, modality)
            if hook is None:  # only what lies after Block4 needs differentiating
                z = z.detach().requires_grad_(True)
                if z.dim() != 4:
                    raise ValueError(
                        f"Grad-CAM needs (N, C, H, W) maps at Block4; this model gives {tuple(z.shape)} (tokens)"
                    )
            reweighted = backbone.neck(z)
            embedded = model.retrieval_features(backbone.post(reweighted))
            if caught:
                explained = {"last block": caught[0]}
            elif isinstance(backbone.neck, torch.nn.Identity):
                explained = {"Block4": z}
            else:
                explained = {"before FDR": z, "after FDR": reweighted}
            # gradients of the explained maps only: no parameter's .grad is touched
            grads = torch.autograd.grad((embedded * embedded.detach()).sum(), list(explained.values()))
    finally:
        if hook is not None:
            hook.remove()
    # maps laid out otherwise (Swin's channels-last, ViT's tokens) are read through the backbone's own layout
    size, first = tuple(images.shape[-2:]), backbone.channels_first
    pairs = zip(explained.items(), grads, strict=True)
    return {name: _cam(first(maps.detach()), first(grad), size) for (name, maps), grad in pairs}

"""Training losses of the visible-infrared stage (§3.4): L = L_id + γ · L_tri."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def batch_hard_triplet(features: torch.Tensor, pids: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017) on Euclidean distances: for every anchor, its farthest
    positive and closest negative in the batch. The cross-modality PK batch makes both kinds cross modalities."""
    dist = torch.cdist(features, features).clamp(min=1e-12)
    same = pids[:, None] == pids[None, :]
    hardest_positive = torch.where(same, dist, torch.zeros_like(dist)).amax(dim=1)
    hardest_negative = torch.where(same, torch.full_like(dist, float("inf")), dist).amin(dim=1)
    return F.relu(hardest_positive - hardest_negative + margin).mean()


class IdentityTripletLoss(nn.Module):
    """``L = CE(logits, pids) + gamma * L_tri(features, pids)``; label smoothing optional (off, as in the paper)."""

    def __init__(self, gamma: float = 0.5, margin: float = 0.3, label_smooth: float = 0.0):
        super().__init__()
        self.gamma, self.margin, self.label_smooth = gamma, margin, label_smooth

    def forward(self, logits: torch.Tensor, features: torch.Tensor, pids: torch.Tensor) -> dict[str, torch.Tensor]:
        loss_id = F.cross_entropy(logits.float(), pids, label_smoothing=self.label_smooth)
        loss_tri = batch_hard_triplet(features.float(), pids, self.margin)
        return {"loss": loss_id + self.gamma * loss_tri, "loss_id": loss_id, "loss_tri": loss_tri}

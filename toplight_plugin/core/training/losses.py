"""Training losses of the visible-infrared stage: L = L_id + γ · L_tri (Eq. 12), with the paper's batch-hard
triplet or AGW's weighted regularised triplet (the agw_resnet50 baseline)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from toplight_plugin.core.training.precision import fp32_distances


def pairwise_distances(features: torch.Tensor) -> torch.Tensor:
    """Euclidean distances in full FP32, whatever autocast and TF32 do to the network around them."""
    with fp32_distances(features.device.type):
        return torch.cdist(features.float(), features.float()).clamp(min=1e-12)


def batch_hard_triplet(features: torch.Tensor, pids: torch.Tensor, margin: float = 0.3) -> torch.Tensor:
    """Batch-hard triplet loss (Hermans et al. 2017) on Euclidean distances: for every anchor, its farthest
    positive and closest negative in the batch. The cross-modality PK batch makes both kinds cross modalities."""
    dist = pairwise_distances(features)
    same = pids[:, None] == pids[None, :]
    hardest_positive = torch.where(same, dist, torch.zeros_like(dist)).amax(dim=1)
    hardest_negative = torch.where(same, torch.full_like(dist, float("inf")), dist).amin(dim=1)
    return F.relu(hardest_positive - hardest_negative + margin).mean()


def weighted_regularized_triplet(features: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
    """WRT loss of AGW (Ye et al. 2021): per anchor, the softmax(d)-weighted mean distance to its positives and
    the softmax(-d)-weighted mean distance to its negatives, in the soft margin log(1 + exp(d_p - d_n)), so
    there is no margin to tune. As in AGW's code, the anchor counts among its own positives."""
    dist = pairwise_distances(features)
    same = pids[:, None] == pids[None, :]
    weighted_positive = (dist * torch.softmax(dist.masked_fill(~same, float("-inf")), dim=1)).sum(dim=1)
    weighted_negative = (dist * torch.softmax((-dist).masked_fill(same, float("-inf")), dim=1)).sum(dim=1)
    return F.softplus(weighted_positive - weighted_negative).mean()


TRIPLETS = ("batch_hard", "wrt")


class IdentityTripletLoss(nn.Module):
    """``L = id_weight * CE(logits, pids) + gamma * L_tri(features, pids)`` (Eq. 12 with id_weight 1); label
    smoothing optional (off, as in the paper). ``triplet``: "batch_hard" (the paper's, with ``margin``) or "wrt"
    (AGW's, margin-free). ``gamma`` 0 is torchreid's softmax-only training."""

    def __init__(self, gamma: float = 0.5, margin: float = 0.3, label_smooth: float = 0.0, triplet: str = "batch_hard",
                 id_weight: float = 1.0):  # fmt: skip
        super().__init__()
        if triplet not in TRIPLETS:
            raise ValueError(f"unknown triplet loss {triplet!r}; expected one of {TRIPLETS}")
        self.gamma, self.margin, self.label_smooth, self.triplet = gamma, margin, label_smooth, triplet
        self.id_weight = id_weight

    def forward(self, logits: torch.Tensor, features: torch.Tensor, pids: torch.Tensor) -> dict[str, torch.Tensor]:
        loss_id = F.cross_entropy(logits.float(), pids, label_smoothing=self.label_smooth)
        if self.triplet == "wrt":
            loss_tri = weighted_regularized_triplet(features.float(), pids)
        else:
            loss_tri = batch_hard_triplet(features.float(), pids, self.margin)
        return {"loss": self.id_weight * loss_id + self.gamma * loss_tri, "loss_id": loss_id, "loss_tri": loss_tri}

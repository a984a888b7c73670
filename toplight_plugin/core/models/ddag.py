"""DDAG (Ye et al., "Dynamic Dual-Attentive Aggregation Learning for Visible-Infrared Person Re-Identification",
ECCV 2020), the graph-and-part baseline the VI-ReID field compares against, registered as ``ddag_resnet50``.

The two-stream ResNet-50 of AGW's code base as DDAG's public code uses it (modality-specific stems, shared
layer1-4, last stride 1, average pooling, BNNeck), plus
- IWPA, intra-modality weighted-part aggregation: the layer4 map cut into horizontal parts, a cross-part attention
  refines them, learned softmax weights sum them, and the sum is added to the global feature; the retrieval feature;
- CGSA, cross-modality graph structured attention, training only: graph attention (4 heads) over the batch whose
  edges join images of the same identity, in either modality; its node classification loss is L_graph;
- dynamic dual aggregation: L = L_id + L_tri + L_part + w_G L_graph, where w_G = 0 in the first epoch and
  1 / (1 + the previous epoch's mean instance loss L_id + L_tri + L_part) after it, as DDAG's training code sets it.
docs/models.md says where this differs from the public code.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from toplight_plugin.core.models.agw import RESNET50, cut_resnet
from toplight_plugin.core.models.assemble import ALLOW_HEAD, load_own_or_keep, split_pretrained
from toplight_plugin.core.models.backbones import library_model, set_last_stride
from toplight_plugin.core.models.cards import ModelCard
from toplight_plugin.core.models.dual_path import DualPathNet
from toplight_plugin.core.models.heads import BNNeck, ReIDNet
from toplight_plugin.core.models.registry import register_model
from toplight_plugin.core.training.losses import IdentityTripletLoss

FEAT_DIM = 2048


def horizontal_parts(maps: torch.Tensor, parts: int) -> torch.Tensor:
    """(N, C, H, W) -> (N, parts, C): the mean of each horizontal stripe, with adaptive pooling's stripe bounds
    (floor(i H / p) to ceil((i + 1) H / p)) written as slices, so any H exports to ONNX (adaptive pooling exports
    only when p divides H)."""
    height = maps.shape[2]
    if height < parts:
        raise ValueError(f"IWPA needs at least {parts} rows in the layer4 map, got {height}: use a taller input")
    # the exporter traces these as ONNX integer divisions, which truncate: keep every operand non-negative
    bounds = [(i * height // parts, ((i + 1) * height + parts - 1) // parts) for i in range(parts)]
    return torch.stack([maps[:, :, a:b].mean(dim=(2, 3)) for a, b in bounds], dim=1)


class IWPA(nn.Module):
    """Intra-modality weighted-part aggregation (DDAG §3.2): cross-part attention softmax(q k^T) over the parts
    of one image refines them (r = softmax(q k^T) v, unscaled as in DDAG's code), softmax weights learned per part
    (initialised uniform) sum them, the sum joins the global BNNeck feature and a BatchNorm (shift frozen) follows."""

    def __init__(self, channels: int = FEAT_DIM, parts: int = 3):
        super().__init__()
        self.parts = parts
        self.query, self.key, self.value = (nn.Linear(channels, channels) for _ in range(3))
        self.part_weight = nn.Parameter(torch.full((parts,), 1.0 / parts))
        self.bn = nn.BatchNorm1d(channels)
        self.bn.bias.requires_grad_(False)

    def forward(self, maps: torch.Tensor, global_feature: torch.Tensor) -> torch.Tensor:
        p = horizontal_parts(maps, self.parts)  # (N, P, C)
        # q k^T over C = 2,048 channels overflows fp16: q and k scaled by 2^-s ≈ 1/√C before the product, the
        # scores by 2^2s in float32 after it (powers of two: in float32 the very same numbers as unscaled)
        shift = math.ceil(math.log2(p.shape[-1]) / 2)
        scores = math.ldexp(1, -shift) * self.query(p) @ (math.ldexp(1, -shift) * self.key(p)).transpose(1, 2)
        attention = torch.softmax(scores.float() * math.ldexp(1, 2 * shift), dim=-1).to(p.dtype)  # (N, P, P)
        refined = attention @ self.value(p)
        aggregated = (refined * torch.softmax(self.part_weight, dim=0)[None, :, None]).sum(dim=1)
        return self.bn(aggregated + global_feature)


class GraphAttentionHead(nn.Module):
    """One graph attention head (Veličković et al. 2018) as DDAG uses it: h = x W, e_ij = LeakyReLU(a^T [h_i, h_j])
    kept only on the graph's edges, softmax over each node's neighbours, then dropout, h'_i = sum_j alpha_ij h_j."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float, slope: float):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_dim, out_dim))
        self.attend = nn.Parameter(torch.empty(2 * out_dim, 1))
        nn.init.xavier_uniform_(self.weight, gain=math.sqrt(2))
        nn.init.xavier_uniform_(self.attend, gain=math.sqrt(2))
        self.dropout, self.slope = dropout, slope

    def attention(self, x: torch.Tensor, edges: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(alpha, h): each row of alpha is a distribution over that node's neighbours."""
        h = x @ self.weight
        half = h.shape[1]
        scores = F.leaky_relu(h @ self.attend[:half] + (h @ self.attend[half:]).T, self.slope)
        return torch.softmax(scores.masked_fill(~edges, float("-inf")), dim=1), h

    def forward(self, x: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
        alpha, h = self.attention(x, edges)
        return F.dropout(alpha, self.dropout, self.training) @ h


class CrossModalityGraph(nn.Module):
    """CGSA (DDAG §3.3): an edge joins two images of the batch when they show the same identity (the batch holds
    each identity in both modalities, so the edges cross them), self-loops included (DDAG's adjacency, Eq. 6). Four
    heads of width 512 (ELU, concatenated) and an output head over the identities give the log-probabilities of the
    graph loss (Eq. 9); dropout 0.2 before each layer and on the attention."""

    def __init__(self, in_dim: int, num_classes: int, heads: int = 4, width: int = 512, dropout: float = 0.2,
                 slope: float = 0.2):  # fmt: skip
        super().__init__()
        self.heads = nn.ModuleList(GraphAttentionHead(in_dim, width, dropout, slope) for _ in range(heads))
        self.out = GraphAttentionHead(width * heads, num_classes, dropout, slope)
        self.dropout = dropout

    def forward(self, pooled: torch.Tensor, pids: torch.Tensor) -> torch.Tensor:
        edges = pids[:, None] == pids[None, :]
        x = F.dropout(pooled, self.dropout, self.training)
        x = torch.cat([F.elu(head(x, edges)) for head in self.heads], dim=1)
        x = F.dropout(x, self.dropout, self.training)
        return F.log_softmax(F.elu(self.out(x, edges)), dim=1)


class DDAGHead(BNNeck):
    """BNNeck (the global feature and the identity classifier, shared with the part feature as in DDAG) + IWPA +
    the training-only graph."""

    def __init__(self, feat_dim: int, num_classes: int, parts: int = 3, heads: int = 4):
        super().__init__(feat_dim, num_classes)
        self.iwpa = IWPA(feat_dim, parts)
        self.graph = CrossModalityGraph(feat_dim, num_classes, heads)


class DDAGNet(ReIDNet):
    """Eval: the IWPA feature (what DDAG reports). Train, loss "triplet": ``(logits, pooled)`` as torchreid's stock
    engines expect; given the batch's ``pids`` (the VI engine passes them: its card names ``takes_pids``) also a
    dict with the part logits, the graph's log-probabilities and w_G, which DynamicDualAggregationLoss combines."""

    def __init__(self, backbone: DualPathNet, head: DDAGHead, loss: str = "softmax"):
        super().__init__(backbone, head, loss)
        self.register_buffer("graph_weight", torch.zeros(()))  # w_G: in checkpoints, so a resume continues it

    def forward(self, x, modality=None, pids: torch.Tensor | None = None, return_featuremaps: bool = False):
        maps = self.backbone(x, modality)
        if return_featuremaps:
            return maps
        if not self.training:
            return self.retrieval_features(maps)
        pooled = maps.mean(dim=(2, 3))
        e = self.head.embed(pooled)
        logits = self.head.classify(e)
        if self.loss == "softmax":
            return logits
        if pids is None:
            return logits, pooled
        aux = {"part_logits": self.head.classify(self.head.iwpa(maps, e)), "graph": self.head.graph(pooled, pids),
               "graph_weight": self.graph_weight}  # fmt: skip
        return logits, pooled, aux

    def retrieval_features(self, maps: torch.Tensor) -> torch.Tensor:
        """The IWPA feature of the layer4 maps."""
        return self.head.iwpa(maps, self.head.embed(maps.mean(dim=(2, 3))))

    def end_epoch(self, means: dict[str, float]) -> None:
        """Dynamic dual aggregation: w_G for the next epoch from this epoch's mean instance loss."""
        self.graph_weight.fill_(1.0 / (1.0 + means["loss_instance"]))

    @staticmethod
    def wrap_loss(base: IdentityTripletLoss) -> DynamicDualAggregationLoss:
        return DynamicDualAggregationLoss(base)


class DynamicDualAggregationLoss(nn.Module):
    """L = L_id + L_tri (``base``: DDAG's cross-entropy and batch-hard triplet, Eq. 1) + L_part (cross-entropy of
    the IWPA feature's logits; instance loss, Eq. 10) + w_G L_graph (negative log-likelihood of the graph's
    log-probabilities, Eq. 9; overall loss, Eq. 11)."""

    def __init__(self, base: IdentityTripletLoss):
        super().__init__()
        self.base = base

    def forward(self, logits, features, pids, aux: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        losses = self.base(logits, features, pids)
        loss_part = F.cross_entropy(aux["part_logits"].float(), pids, label_smoothing=self.base.label_smooth)
        loss_graph = F.nll_loss(aux["graph"].float(), pids)
        instance = losses["loss"] + loss_part
        weight = aux["graph_weight"].detach()
        return {**losses, "loss": instance + weight * loss_graph, "loss_part": loss_part, "loss_graph": loss_graph,
                "loss_instance": instance.detach()}  # fmt: skip


def ddag_resnet50(
    num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False, use_gpu: bool = False,
    allow_missing: tuple[str, ...] = ALLOW_HEAD, parts: int = 3, graph_heads: int = 4, **kwargs,
) -> DDAGNet:  # fmt: skip
    """DDAG two-stream ResNet-50. ``pretrained`` as for agw_resnet50; ``parts``: IWPA's stripes (DDAG's 3);
    ``graph_heads``: CGSA's heads (DDAG's 4). The input size keywords are accepted and not needed."""
    unknown = sorted(set(kwargs) - {"height", "width"})
    if unknown:
        raise TypeError(f"ddag_resnet50 takes no option(s) {unknown}: it has no FDR")
    own, imagenet = split_pretrained(pretrained)
    stem, *layers = cut_resnet(library_model(RESNET50, imagenet, str(pretrained)))
    set_last_stride(layers[-1], 1)
    backbone = DualPathNet(stem, nn.Sequential(*layers), nn.Identity())
    model = DDAGNet(backbone, DDAGHead(FEAT_DIM, num_classes, parts, graph_heads), loss)
    return load_own_or_keep(model, own, tuple(allow_missing))


OPTIONS = ("height", "width", "parts", "graph_heads")  # the input size is accepted and not needed
register_model(ddag_resnet50, ModelCard("ddag_resnet50", "person", True, FEAT_DIM, OPTIONS,
                                        hooks=("takes_pids", "end_epoch", "wrap_loss")))  # fmt: skip

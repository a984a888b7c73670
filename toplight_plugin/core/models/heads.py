"""Heads and the torchreid model contract (train: logits or (logits, features); eval: features)."""

from __future__ import annotations

import torch
import torch.nn as nn

LOSSES = ("softmax", "triplet")
TRAINING_ONLY = ("head.classifier.", "head.fc2.", "head.graph.")  # sized by the training set; unused at inference


class BNNeck(nn.Module):
    """BatchNorm bottleneck + bias-free classifier (Luo et al., "Bag of Tricks").

    The triplet loss sees the feature before the BatchNorm, the classifier and retrieval the
    feature after it; the BatchNorm shift stays at zero (frozen) so the classifier is a pure
    projection of the normalised feature.
    """

    def __init__(self, feat_dim: int, num_classes: int):
        super().__init__()
        self.bn = nn.BatchNorm1d(feat_dim)
        self.bn.bias.requires_grad_(False)
        self.classifier = nn.Linear(feat_dim, num_classes, bias=False)
        nn.init.normal_(self.classifier.weight, std=0.001)

    def embed(self, f: torch.Tensor) -> torch.Tensor:
        return self.bn(f)

    def classify(self, e: torch.Tensor) -> torch.Tensor:
        return self.classifier(e)


class ReIDNet(nn.Module):
    """A backbone taking ``(x, modality)`` plus a head with ``embed`` and ``classify``.

    In eval mode it returns the retrieval features; in train mode the logits (loss
    "softmax") or ``(logits, features)`` (loss "triplet"), as torchreid's engines expect.
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, loss: str = "softmax"):
        super().__init__()
        if loss not in LOSSES:
            raise ValueError(f"unsupported loss {loss!r}; expected one of {LOSSES}")
        self.backbone = backbone
        self.head = head
        self.loss = loss

    def retrieval_features(self, f: torch.Tensor) -> torch.Tensor:
        """The backbone's output -> the eval-mode features (what the ONNX graph computes after the stems)."""
        return self.head.embed(f)

    def forward(self, x: torch.Tensor, modality: int | torch.Tensor | None = None, return_featuremaps: bool = False):
        """``return_featuremaps``: the backbone's last maps before pooling instead (torchreid's activation maps)."""
        if return_featuremaps:
            return self.backbone.feature_maps(x, modality)
        f = self.backbone(x, modality)
        e = self.head.embed(f)
        if not self.training:
            return e
        logits = self.head.classify(e)
        return logits if self.loss == "softmax" else (logits, f)

"""Task-oriented pretraining losses (§3.2): gradient reversal, fake domain loss (Eq. 1-2), identity consistency
loss (Eq. 3) and their sum (Eq. 4)."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class _ReverseGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        return -ctx.scale * grad, None


class GradientReversal(nn.Module):
    """GRL (Ganin & Lempitsky 2015): identity forward, gradient multiplied by ``-scale`` backward."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _ReverseGradient.apply(x, self.scale)


class DomainClassifier(nn.Module):
    """L_d: a logistic classifier of the two pretended domains (one logit, binary cross-entropy).

    Block4 maps are globally average-pooled first; Block4 and Block7 features have different widths, so Eq. 1-2 use
    one classifier for the mid-level pair (x1, x2) and one for the final pair (x̂1, x̂2).
    """

    def __init__(self, in_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, 1)

    def forward(self, x: torch.Tensor, domain: int) -> torch.Tensor:
        if x.ndim == 4:
            x = x.mean(dim=(2, 3))
        logit = self.linear(x).squeeze(1)
        return F.binary_cross_entropy_with_logits(logit, torch.full_like(logit, float(domain)))


class TOPLoss(nn.Module):
    """L = L_idc + L_fd^1 + L_fd^2 (Eq. 4), each term switchable for the Table 3 rows 2-5.

    ``identity``: "idc" (Eq. 3: the logits of both paths come from the one shared classifier), "id" (Table 3 rows
    2-3: each path has its own classifier, the plain identity loss) or None; the formula is the same, the caller
    decides where the logits come from. ``fake_domain``: Eq. 1-2 on or off. Eq. 3 is written as a log-likelihood to
    maximise; the loss minimised here is its negative, the cross-entropy.
    """

    def __init__(
        self,
        mid_channels: int,
        feat_dim: int,
        identity: str | None = "idc",
        fake_domain: bool = True,
        grl_scale: float = 1.0,
    ):
        super().__init__()
        if identity not in ("idc", "id", None):
            raise ValueError(f"identity loss must be 'idc', 'id' or None, got {identity!r}")
        if identity is None and not fake_domain:
            raise ValueError("at least one of the identity loss and the fake domain loss must be on")
        self.identity, self.fake_domain = identity, fake_domain
        self.mid = DomainClassifier(mid_channels)
        self.final = DomainClassifier(feat_dim)
        self.grl = GradientReversal(grl_scale)

    def forward(self, x1, x2, feat1, feat2, logits1, logits2, labels) -> dict[str, torch.Tensor]:
        """``x1, x2``: Block4 maps of the two paths; ``feat1, feat2``: Block7 features; ``logits*``: shared head."""
        terms = {}
        if self.identity is not None:  # Eq. 3
            terms[f"loss_{self.identity}"] = F.cross_entropy(logits1, labels) + F.cross_entropy(logits2, labels)
        if self.fake_domain:
            terms["loss_fd1"] = self.mid(x1, 0) + self.final(self.grl(feat1), 0)  # Eq. 1, d1 = 0
            terms["loss_fd2"] = self.mid(x2, 1) + self.final(self.grl(feat2), 1)  # Eq. 2, d2 = 1
        terms["loss"] = sum(terms.values())  # Eq. 4
        return terms

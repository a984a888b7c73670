"""Exact t-SNE (van der Maaten & Hinton 2008) in torch, for the Fig. 4 style plots of a few hundred features.

O(N²) memory and time, fine for the few identities a figure shows; no extra dependency.
"""

from __future__ import annotations

import math

import numpy as np
import torch


def _affinities(x: torch.Tensor, perplexity: float) -> torch.Tensor:
    """Symmetric P: each row's Gaussian bandwidth is found by bisection so its entropy is log(perplexity)."""
    n = x.shape[0]
    d2 = torch.cdist(x, x).pow(2)
    d2.fill_diagonal_(float("inf"))
    target = math.log(perplexity)
    lo, hi = torch.full((n, 1), 1e-20, dtype=x.dtype), torch.full((n, 1), 1e20, dtype=x.dtype)
    beta = torch.ones(n, 1, dtype=x.dtype)
    for _ in range(100):
        logits = -d2 * beta
        p = torch.softmax(logits, dim=1)
        entropy = -(p * torch.log(p.clamp(min=1e-300))).sum(dim=1, keepdim=True)
        too_flat = entropy > target  # bandwidth too wide: raise beta
        lo, hi = torch.where(too_flat, beta, lo), torch.where(too_flat, hi, beta)
        beta = torch.where(hi < 1e19, (lo + hi) / 2, beta * 2)
    p = torch.softmax(-d2 * beta, dim=1)
    return (p + p.t()) / (2 * n)


def tsne(features: np.ndarray, perplexity: float = 30.0, iterations: int = 750, seed: int = 0) -> np.ndarray:
    """2-D embedding of ``features`` (N x D): early exaggeration 12 for 250 steps, momentum 0.5 then 0.8."""
    x = torch.as_tensor(np.asarray(features), dtype=torch.float64)
    n = x.shape[0]
    if n < 4:
        raise ValueError(f"t-SNE needs at least 4 points, got {n}")
    p = _affinities(x, min(perplexity, (n - 1) / 3))
    generator = torch.Generator().manual_seed(seed)
    y = 1e-4 * torch.randn(n, 2, generator=generator, dtype=torch.float64)
    velocity = torch.zeros_like(y)
    rate = max(n / 12 / 4, 50.0)
    for step in range(iterations):
        exaggeration, momentum = (12.0, 0.5) if step < 250 else (1.0, 0.8)
        kernel = 1 / (1 + torch.cdist(y, y).pow(2))
        kernel.fill_diagonal_(0)
        q = kernel / kernel.sum()
        weights = (exaggeration * p - q) * kernel
        gradient = 4 * (weights.sum(dim=1, keepdim=True) * y - weights @ y)
        velocity = momentum * velocity - rate * gradient
        y = y + velocity
    return (y - y.mean(dim=0)).numpy()

"""BatchNorm statistics recalibration.

A randomly initialised lightweight network keeps BatchNorm running statistics of 0/1
that do not fit its activations, so in eval mode its outputs shrink layer after layer
(to ~1e-9 on MobileNetV3) and timings and comparisons on it mean little. Recomputing
the statistics on a few batches fixes that without training.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn


def set_batchnorm_momentum(model: nn.Module, momentum: float | None) -> nn.Module:
    """Set every BatchNorm's running-statistics momentum; ``None`` keeps each library's own.

    torchvision's MobileNetV3 uses 0.01, meant for long ImageNet runs: after a short run from random weights the
    running statistics still describe the first batches, so eval-mode features of different images nearly coincide.
    """
    if momentum is not None:
        if isinstance(momentum, bool) or not isinstance(momentum, (int, float)) or not 0 < momentum <= 1:
            raise ValueError(f"BatchNorm momentum must be a number in (0, 1] (None: the library's), got {momentum!r}")
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                m.momentum = momentum
    return model


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, batches: Iterable[tuple]) -> nn.Module:
    """Reset every BatchNorm's running statistics to the exact average over ``batches``.

    Each batch is a tuple of positional arguments of ``model`` (e.g. ``(images, modality)``).
    Returns the model in eval mode.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    saved = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    for args in batches:
        model(*args)
    for m, momentum in zip(norms, saved, strict=True):
        m.momentum = momentum
    return model.eval()

"""Per-epoch seeding: every epoch is reproducible on its own, which is what makes resuming exact."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_epoch(seed: int, epoch: int) -> None:
    """torch, numpy and random seeded from (seed, epoch); augmentation pipelines follow torch's seed."""
    value = int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)

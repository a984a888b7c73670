"""Per-epoch seeding: every epoch is reproducible on its own, which is what makes resuming exact; every process of a
distributed run its own stream, so its images get their own flips, crops and erasing."""

from __future__ import annotations

import random

import numpy as np
import torch

from toplight_plugin.core.training import distributed


def seed_epoch(seed: int, epoch: int, rank: int = 0) -> None:
    """torch, numpy and random seeded from (seed, epoch, rank); augmentation pipelines and data-loader workers
    follow torch's seed. Batch samplers take their own shared seed: the ranks split one draw of the epoch."""
    entropy = [seed, epoch, rank] if rank else [seed, epoch]  # rank 0 (and one process) as before ranks counted
    value = int(np.random.SeedSequence(entropy).generate_state(1)[0])
    torch.manual_seed(value)
    np.random.seed(value)
    random.seed(value)


def start_epoch(seed: int, epoch: int, sampler=None) -> None:
    """This process's streams seeded for ``epoch`` (its rank included) and the batch sampler told the epoch it
    draws (shared by the ranks, each keeping its share)."""
    seed_epoch(seed, epoch, distributed.rank())
    if hasattr(sampler, "set_epoch"):
        sampler.set_epoch(epoch)

"""The paper's learning-rate schedule (Table 2a / §4.1): linear warm-up, then step decay."""

from __future__ import annotations

import bisect

import torch


class WarmupMultiStep:
    """Factor of the base lr at epoch e: (e + 1) / warmup during warm-up, then gamma ** (milestones passed).

    A callable object rather than a lambda, so ``LambdaLR.state_dict`` stores its plain fields.
    """

    def __init__(self, warmup: int = 5, milestones: tuple[int, ...] = (20, 40), gamma: float = 0.1):
        self.warmup, self.milestones, self.gamma = int(warmup), [int(m) for m in milestones], float(gamma)

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return (epoch + 1) / self.warmup
        return self.gamma ** bisect.bisect_right(self.milestones, epoch)


def build_scheduler(optimizer, warmup: int, milestones, gamma: float) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, WarmupMultiStep(warmup, tuple(milestones), gamma))

"""Learning-rate schedules: the paper's (Table 2a / §4.1: linear warm-up, then step decay) and torchreid's
``single_step``, ``multi_step`` and ``cosine``, all as epoch -> factor functions of a LambdaLR, so a resumed run
continues the same curve."""

from __future__ import annotations

import bisect
import math

import torch

SCHEDULERS = ("warmup_multi_step", "multi_step", "single_step", "cosine")


class EpochSchedule:
    """Factor of the base lr at epoch e: (e + 1) / warmup during the warm-up epochs (``warmup_multi_step`` only:
    torchreid's names behave as in torchreid), then

    - ``warmup_multi_step`` / ``multi_step``: gamma ** (milestones passed);
    - ``single_step``: gamma ** (e // milestones[0]), torchreid's StepLR;
    - ``cosine``: (1 + cos(pi e / max_epoch)) / 2, torchreid's CosineAnnealingLR to zero at max_epoch.

    A callable object rather than a lambda, so ``LambdaLR.state_dict`` stores its plain fields.
    """

    def __init__(self, kind: str = "warmup_multi_step", warmup: int = 5, milestones=(20, 40), gamma: float = 0.1,
                 max_epoch: int = 70):  # fmt: skip
        if kind not in SCHEDULERS:
            raise ValueError(f"train.lr_scheduler must be one of {SCHEDULERS}, got {kind!r}")
        if kind == "single_step" and (len(milestones) != 1 or int(milestones[0]) < 1):
            raise ValueError(f"train.stepsize: single_step takes one step size of at least 1, got {list(milestones)}")
        self.kind, self.warmup, self.gamma = kind, int(warmup) if kind == "warmup_multi_step" else 0, float(gamma)
        self.milestones, self.max_epoch = [int(m) for m in milestones], int(max_epoch)

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup:
            return (epoch + 1) / self.warmup
        if self.kind == "single_step":
            return self.gamma ** (epoch // self.milestones[0])
        if self.kind == "cosine":
            return (1 + math.cos(math.pi * epoch / self.max_epoch)) / 2
        return self.gamma ** bisect.bisect_right(self.milestones, epoch)


def build_scheduler(optimizer, schedule: EpochSchedule) -> torch.optim.lr_scheduler.LambdaLR:
    return torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)

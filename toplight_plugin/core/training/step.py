"""A training step's numbers crossing to the host together: the loss terms, the accuracy and the every-process
finite flag are stacked on the device and read in one transfer, after the backward pass is queued and before the
optimizer step, so a diverged step still never reaches the weights. Everything else in a step stays on the device
(routing is decided on the loader's host copy of the modality codes)."""

from __future__ import annotations

import torch

from toplight_plugin.core.training import distributed


def read_step(values: dict[str, torch.Tensor]) -> tuple[dict[str, float], bool]:
    """``values`` (scalars, ``values["loss"]`` among them) as Python floats, and whether the loss is finite in
    every process: one host read."""
    names = list(values)
    stacked = torch.stack([values[name].detach().float().reshape(()) for name in names])
    flag = distributed.finite_flag(stacked[names.index("loss")])
    numbers = torch.cat([stacked, flag.to(stacked.device)]).tolist()
    return dict(zip(names, numbers[:-1], strict=True)), numbers[-1] > 0

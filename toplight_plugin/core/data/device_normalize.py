"""Normalisation on the training device: workers send uint8 batches (a quarter of float32's bytes to collate, pin
and copy) and each sample's drawn post-normalisation steps, which are applied here after normalising, in the
order of the worker pipeline (core.data.transforms): constant-fill erasing, then channel exchange, then adaptive
gray. The draws themselves stay in the workers, so a seed gives the same augmentation either way.

A sample's steps travel as six int16 numbers: the erased box (top, left, height, width; height 0 when none) and
the two channel choices (-1: none; 0, 1, 2: that channel copied to all three; 3: grayscale).
"""

from __future__ import annotations

import torch

NONE = (0, 0, 0, 0, -1, -1)  # no step drawn
NORMALIZE_CHOICES = ("auto", "worker", "device")


def on_device(choice: str, device: torch.device, key: str) -> bool:
    """Whether batches are normalised on ``device``: ``auto`` does it on CUDA, where the loader is the bottleneck;
    on a CPU the worker's float pipeline is kept (same numbers, no transfer to save)."""
    if choice not in NORMALIZE_CHOICES:
        raise ValueError(f"{key} must be one of {list(NORMALIZE_CHOICES)}, got {choice!r}")
    return choice == "device" or (choice == "auto" and device.type == "cuda")


class DeviceNormalize:
    """``normalize(images, ops)``: uint8 NCHW images (any device) to the float batch the worker pipeline would
    have made: (x - 255 mean) / (255 std) as albumentations' Normalize, then each sample's ``ops`` (N x 6) with the
    pipeline's erasing ``fill`` and grayscale weights (core.data.transforms.device_normalize gives them)."""

    def __init__(self, mean, std, fill, gray_weights):
        constants = (torch.tensor(mean) * 255, 1 / (torch.tensor(std) * 255), torch.tensor(fill),
                     torch.tensor(gray_weights))  # fmt: skip
        self._constants = {torch.device("cpu"): tuple(c.float().view(1, -1, 1, 1) for c in constants)}

    def _on(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        """(mean, 1 / std, fill, gray weights) on ``device``, copied there once."""
        if device not in self._constants:
            self._constants[device] = tuple(c.to(device) for c in self._constants[torch.device("cpu")])
        return self._constants[device]

    def __call__(self, images: torch.Tensor, ops: torch.Tensor | None = None) -> torch.Tensor:
        if images.dtype != torch.uint8:
            raise TypeError(f"device normalisation takes the workers' uint8 batches, got {images.dtype}")
        mean, inv_std, fill, gray_weights = self._on(images.device)
        x = (images.float() - mean) * inv_std
        if ops is None:
            return x
        ops = ops.to(images.device, torch.long, non_blocking=True)
        x = self._erase(x, ops[:, :4], fill)
        for column in (4, 5):
            x = self._channels(x, ops[:, column], gray_weights)
        return x

    @staticmethod
    def _erase(x: torch.Tensor, box: torch.Tensor, fill: torch.Tensor) -> torch.Tensor:
        top, left, height, width = (box[:, i].view(-1, 1, 1) for i in range(4))
        rows = torch.arange(x.shape[2], device=x.device).view(1, -1, 1)
        cols = torch.arange(x.shape[3], device=x.device).view(1, 1, -1)
        inside = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < left + width)
        return torch.where(inside.unsqueeze(1), fill[:, : x.shape[1]], x)

    @staticmethod
    def _channels(x: torch.Tensor, choice: torch.Tensor, gray_weights: torch.Tensor) -> torch.Tensor:
        gray = (x[:, :3] * gray_weights).sum(dim=1, keepdim=True)
        planes = torch.cat([x[:, :3], gray], dim=1)  # N x 4 x H x W: R, G, B, grayscale
        picked = planes[torch.arange(len(x), device=x.device), choice.clamp(min=0)].unsqueeze(1)
        return torch.where((choice >= 0).view(-1, 1, 1, 1), picked.expand_as(x), x)

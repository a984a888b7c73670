"""Numeric precision of a training run: mixed precision on by default on CUDA, TF32 for the network's matmuls, FP32
for the distances the losses and the protocols rank by.

``toplight.amp`` / ``top.amp``: ``auto`` (CUDA: bf16 where the GPU has it, else fp16 with a gradient scaler; CPU:
off), ``off``, ``bf16`` (CUDA, or CPU autocast where the CPU has bf16 units) or ``fp16`` (CUDA only).
"""

from __future__ import annotations

from contextlib import contextmanager, nullcontext

import torch

AMP_CHOICES = ("auto", "off", "bf16", "fp16")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


def amp_dtype(choice: str, device: torch.device, key: str = "toplight.amp") -> torch.dtype | None:
    """The autocast dtype ``choice`` means on ``device`` (None: full precision)."""
    if choice not in AMP_CHOICES:
        raise ValueError(f"{key} must be one of {list(AMP_CHOICES)}, got {choice!r}")
    if choice == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if choice == "fp16" and device.type != "cuda":
        raise ValueError(f"{key} fp16 needs CUDA (its gradient scaler is CUDA's); on CPU use bf16 or off")
    return DTYPES.get(choice)


def autocast(device: torch.device, dtype: torch.dtype | None):
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def grad_scaler(device: torch.device, dtype: torch.dtype | None) -> torch.amp.GradScaler:
    """Enabled for fp16 only: bf16 has float32's range."""
    return torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and dtype is torch.float16)


def configure(device: torch.device) -> None:
    """cuDNN picks its fastest kernels for the fixed input size; matmuls and convolutions run in TF32 (outside
    ``fp32_distances``)."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True


@contextmanager
def fp32_distances(device_type: str):
    """Full FP32 for pairwise distances: under autocast or TF32 a ‖a‖² + ‖b‖² − 2ab expansion loses the small
    differences that decide the hardest positive and negative, and the ranking."""
    tf32 = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        with torch.autocast(device_type, enabled=False):
            yield
    finally:
        torch.backends.cuda.matmul.allow_tf32 = tf32

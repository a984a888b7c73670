"""Checkpoints that survive a crash: written to a temporary file, flushed, then renamed over the target.

They hold tensors and plain Python types only, so ``torch.load(..., weights_only=True)`` reads them.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import torch

LAST = "last.pth"


def atomic_save(obj, path: str | Path) -> Path:
    """``torch.save`` to ``path`` such that a reader sees either the old file or the complete new one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def load(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} does not exist")
    return torch.load(path, map_location="cpu", weights_only=True)


def newest(folder: str | Path) -> Path | None:
    """``last.pth`` in ``folder``, else its highest ``epoch-N.pth`` (a run killed between the two writes), else None."""
    folder = Path(folder)
    if (folder / LAST).is_file():
        return folder / LAST
    numbers = {p: p.stem.removeprefix("epoch-") for p in folder.glob("epoch-*.pth")}
    epochs = [(int(n), p) for p, n in numbers.items() if n.isdigit()]
    return max(epochs)[1] if epochs else None

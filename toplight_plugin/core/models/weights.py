"""Safe reading of weight files: tensors only, never pickled code."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch

_WRAPPER_KEYS = ("state_dict", "model")


def text_instead_of_binary(path: str | Path) -> str | None:
    """Why ``path`` is plainly not a binary model file (empty, a git-LFS pointer, an HTML page, other text), or
    None: what a failed download or a clone without ``git lfs pull`` leaves where the weights should be."""
    with open(path, "rb") as f:
        head = f.read(1024)
    if not head:
        return "it is empty (0 bytes)"
    if head.startswith(b"version https://git-lfs"):
        return "it is a git-LFS pointer, not the file itself (fetch it with git lfs pull)"
    if b"<html" in head.lower() or head.lstrip().lower().startswith(b"<!doctype"):
        return "it is an HTML page (a download that saved a web page instead of the file)"
    try:
        text = head.decode()
    except UnicodeDecodeError:
        return None
    if all(c.isprintable() or c in "\t\n\r" for c in text):  # no control bytes: not a zip or a pickle
        return f"it is a text file starting {(text.strip().splitlines() or [''])[0][:40]!r}"
    return None


def safe_load(path: str | Path):
    """``torch.load`` with ``weights_only=True``: a file that is not a PyTorch file at all (text, an LFS pointer, a
    web page, another format) and one holding pickled objects other than tensors and plain types are told apart,
    each refused with one line (never with torch's advice to retry unsafely)."""
    why = text_instead_of_binary(path)
    if why:
        raise ValueError(f"{path}: not a PyTorch weights file: {why}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"GLOBAL ([\w.]+)|(Trying to call reduce .*)", str(err))
        if found is None:  # "Unsupported operand": not a pickle stream torch can read
            raise ValueError(f"{path}: not a PyTorch weights file (neither the zip format of torch.save nor a "
                             "readable pickle)") from None  # fmt: skip
        raise ValueError(
            f"{path}: refused to load: it holds pickled objects other than tensors and plain "
            f"types ({found.group(1) or found.group(2)}). Re-save it with torch.save(model.state_dict(), file)."
        ) from None
    except (RuntimeError, EOFError, KeyError, IndexError, ValueError) as err:
        raise ValueError(f"{path}: not a readable PyTorch weights file ({type(err).__name__}: "
                         f"{str(err).strip()[:200]})") from None  # fmt: skip


def read_weights_file(path: str | Path):
    """What a ``.pth``/``.pt``/``.tar`` or ``.safetensors`` file holds, read without running pickled code."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path), device="cpu")
    return safe_load(path)


def state_dict_of(obj, path: str | Path) -> dict[str, torch.Tensor]:
    """The state_dict in what a weights file holds, in the layouts the field ships: a plain state_dict, a dict
    wrapping it under ``state_dict`` or ``model`` (torchreid, LightCNN), keys prefixed ``module.`` (DataParallel)."""
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise ValueError(f"{path}: expected a state_dict (a dict of tensors), got {type(obj).__name__}")
    state = {}
    for key, value in obj.items():
        if not isinstance(value, torch.Tensor):
            raise ValueError(f"{path}: entry {key!r} is a {type(value).__name__}, expected a tensor")
        state[key.removeprefix("module.")] = value
    return state


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a weights file (state_dict_of says which layouts). Loading goes through
    ``torch.load(..., weights_only=True)``, so a file holding pickled code is refused instead of executed."""
    return state_dict_of(read_weights_file(path), path)


def load_into(module: torch.nn.Module, state: dict[str, torch.Tensor], source: str,
              ignore: frozenset[str] = frozenset()) -> None:  # fmt: skip
    """Load ``state`` strictly, naming the file and the first mismatching keys on failure; the keys in ``ignore``
    (tensors the caller never uses, such as a library's ImageNet classifier) are neither required nor loaded."""
    own = {k: v for k, v in module.state_dict().items() if k not in ignore}
    state = {k: v for k, v in state.items() if k not in ignore}
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and state[k].shape != own[k].shape]
    if missing or unexpected or shape:
        parts = []
        for label, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape)):
            if keys:
                parts.append(f"{len(keys)} {label} (e.g. {', '.join(keys[:3])})")
        raise ValueError(f"{source}: does not fit {type(module).__name__}: " + "; ".join(parts))
    module.load_state_dict(state, strict=not ignore)


def non_finite(state: dict[str, torch.Tensor]) -> list[str]:
    """The floating-point tensors of ``state`` holding NaN or inf, sorted."""
    return sorted(k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all())

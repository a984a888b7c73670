"""Safe reading of weight files: tensors only, never pickled code."""

from __future__ import annotations

import pickle
from pathlib import Path

import torch

_WRAPPER_KEYS = ("state_dict", "model")


def safe_load(path: str | Path):
    """``torch.load`` with ``weights_only=True``: a file holding pickled objects other than tensors and plain types
    is refused with one line (never with torch's advice to retry unsafely), an unreadable one named."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        reason = str(err).strip().splitlines()[-1]
        raise ValueError(
            f"{path}: refused to load: it holds pickled objects other than tensors and plain "
            f"types ({reason}). Re-save it with torch.save(model.state_dict(), file)."
        ) from None
    except (RuntimeError, EOFError) as err:
        raise ValueError(f"{path}: not a readable PyTorch weights file ({err})") from None


def load_state_dict_file(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state_dict from a ``.pth``/``.pt``/``.tar`` or ``.safetensors`` file.

    Accepts the layouts the field ships: a plain state_dict, a dict wrapping it under
    ``state_dict`` or ``model`` (torchreid, LightCNN), keys prefixed ``module.`` (DataParallel).
    Loading goes through ``torch.load(..., weights_only=True)``, so a file holding pickled
    code is refused instead of executed.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        obj = load_file(str(path), device="cpu")
    else:
        obj = safe_load(path)
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

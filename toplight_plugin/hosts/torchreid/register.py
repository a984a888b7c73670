"""Registration of the plugin's models into torchreid's model table."""

from __future__ import annotations

from ...core.registry import MODELS
from . import compat


def register_models() -> list[str]:
    """Make every plugin model reachable through ``torchreid.models.build_model``.

    Idempotent: registering again replaces the plugin's own entries; a torchreid model of
    the same name that is not the plugin's is never overwritten.
    """
    table = compat.model_factory()
    for name, fn in MODELS.items():
        current = table.get(name)
        if current is not None and current.__module__ != fn.__module__:
            raise KeyError(f"torchreid already has a model named {name!r} ({current.__module__})")
        table[name] = fn
    return sorted(MODELS)

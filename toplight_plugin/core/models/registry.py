"""Name -> factory table of every model the plugin provides (host registrations read it)."""

from __future__ import annotations

from collections.abc import Callable

import torch.nn as nn

MODELS: dict[str, Callable[..., nn.Module]] = {}
WITHOUT_FDR: set[str] = set()  # models that take no FDR options (the AGW baseline)


def register_model(fn: Callable[..., nn.Module], fdr: bool = True) -> Callable[..., nn.Module]:
    """Add ``fn`` under its ``__name__``; factories take torchreid's keywords
    (``num_classes``, ``loss``, ``pretrained``, ``use_gpu``) plus their own options, the
    FDR ones (``fdr``, ``fdr_*``) unless ``fdr`` is False."""
    if fn.__name__ in MODELS and MODELS[fn.__name__] is not fn:
        raise KeyError(f"model {fn.__name__!r} is registered twice")
    MODELS[fn.__name__] = fn
    if not fdr:
        WITHOUT_FDR.add(fn.__name__)
    return fn


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name](num_classes=num_classes, **kwargs)


def register_variant(name: str, base: str, **options) -> Callable[..., nn.Module]:
    """Register ``name`` as ``base`` built with ``options`` (e.g. ``fdr=None``, ``fdr="hs"``, ``fdr_sigma=3``), so
    a host that only passes a model name (torchreid's ``model.name``) reaches it. The variant's options are what it
    is: they win over the same options given at build time (a config's ``toplight.fdr``)."""
    if base not in MODELS:
        raise KeyError(f"unknown base model {base!r}; expected one of {sorted(MODELS)}")
    factory = MODELS[base]

    def variant(num_classes: int, **kwargs) -> nn.Module:
        return factory(num_classes=num_classes, **{**kwargs, **options})

    variant.__name__ = variant.__qualname__ = name
    variant.__module__ = factory.__module__
    variant.__doc__ = f"{base} with {options}."
    variant.options = dict(options)  # what a config's own keys must agree with (config_checks.fit)
    return register_model(variant, fdr=base not in WITHOUT_FDR)

"""Name -> factory table of every model the plugin provides, each factory with its model card (host registrations
read them)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from pathlib import Path

import torch.nn as nn

from toplight_plugin.core.models.cards import ModelCard, Weights

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module], card: ModelCard) -> Callable[..., nn.Module]:
    """Add ``fn`` under its ``__name__`` with its ``card``. Factories take torchreid's keywords (``num_classes``,
    ``loss``, ``pretrained``, ``use_gpu``) plus the options the card says it takes; the registered factory sets
    ``model.card`` to the card with the options of that call, so every model built by name carries it; the factory
    holds the card (``card(name)``)."""
    name = fn.__name__
    if card.name != name:
        raise ValueError(f"model {name!r} registered with the card of {card.name!r}")
    if name in MODELS and MODELS[name].__wrapped__ is not fn:
        raise KeyError(f"model {name!r} is registered twice")

    @functools.wraps(fn)
    def factory(num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False,
                use_gpu: bool = False, **options) -> nn.Module:  # fmt: skip
        model = fn(num_classes, loss, pretrained, use_gpu, **options)
        model.card = card.built(options)
        return model

    factory.card = card
    MODELS[name] = factory
    return factory


def card(name: str) -> ModelCard:
    """The card of the registered model ``name``."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; expected one of {sorted(MODELS)}")
    return MODELS[name].card


def cards() -> dict[str, ModelCard]:
    """Every registered model's card, in registration order."""
    return {name: factory.card for name, factory in MODELS.items()}


def build(name: str, num_classes: int, **kwargs) -> nn.Module:
    card(name)
    return MODELS[name](num_classes=num_classes, **kwargs)


def build_from_weights(weights: Weights, model: str = "", **options) -> nn.Module:
    """The network a weights file holds, with one output class, its weights loaded: the model and options its card
    names (``options`` win), or ``model`` for a checkpoint without a card."""
    name = weights.model_name(model)
    if not name:
        raise ValueError(f"{weights.source} carries no model card (written before cards, or not a checkpoint of "
                         "this project): name its model")  # fmt: skip
    taken = {k: v for k, v in {**weights.options, **options}.items() if k in card(name).takes}
    return build(name, 1, pretrained=weights.source, **taken)


def register_variant(name: str, base: str, **options) -> Callable[..., nn.Module]:
    """Register ``name`` as ``base`` built with ``options`` (e.g. ``fdr=None``, ``fdr="hs"``, ``fdr_sigma=3``), so
    a host that only passes a model name (torchreid's ``model.name``) reaches it. The variant's options are what it
    is: they win over the same options given at build time (a config's ``toplight.fdr``)."""
    if base not in MODELS:
        raise KeyError(f"unknown base model {base!r}; expected one of {sorted(MODELS)}")
    parent = card(base)
    unknown = sorted(set(options) - set(parent.takes))
    if unknown:
        raise TypeError(f"{base} takes no option(s) {unknown}; its options are {sorted(parent.takes)}")
    factory = MODELS[base]

    def variant(num_classes: int, loss: str = "softmax", pretrained: bool | str | Path = False,
                use_gpu: bool = False, **kwargs) -> nn.Module:  # fmt: skip
        return factory(num_classes, loss, pretrained, use_gpu, **{**kwargs, **options})

    variant.__name__ = variant.__qualname__ = name
    variant.__module__ = factory.__module__
    variant.__doc__ = f"{base} with {options}."
    fixed = {**parent.options, **options}
    return register_model(variant, dataclasses.replace(parent, name=name, base=parent.base or base, options=fixed))

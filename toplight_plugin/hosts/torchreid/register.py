"""Registration of the plugin's models, datasets and sampler into torchreid's own tables."""

from __future__ import annotations

import functools

from toplight_plugin.core.models.batchnorm import set_batchnorm_momentum
from toplight_plugin.core.models.registry import MODELS

from . import compat, native
from .datasets import DATASETS
from .sampler import register_sampler

SCRATCH_MOMENTUM = 0.1  # BatchNorm momentum of models torchreid builds with pretrained=False (docs/torchreid.md)


def from_scratch(fn):
    """``fn`` as torchreid's ``build_model`` calls it: from random weights (``pretrained=False``) every BatchNorm gets
    momentum 0.1, since torchvision's MobileNetV3 value (0.01, for ImageNet fine-tuning) leaves the running statistics
    of a short run at the first batches' and its features tied. The plugin's own tools set ``toplight.bn_momentum``."""

    @functools.wraps(fn)
    def factory(*args, pretrained=True, **kwargs):
        model = fn(*args, pretrained=pretrained, **kwargs)
        return model if pretrained else set_batchnorm_momentum(model, SCRATCH_MOMENTUM)

    return factory


def register_models() -> list[str]:
    """Make every plugin model reachable through ``torchreid.models.build_model`` (as ``from_scratch`` wraps it).

    Idempotent: registering again replaces the plugin's own entries; a torchreid model of
    the same name that is not the plugin's is never overwritten.
    """
    table = compat.model_factory()
    for name, fn in MODELS.items():
        current = table.get(name)
        if current is not None and current.__module__ != fn.__module__:
            raise KeyError(f"torchreid already has a model named {name!r} ({current.__module__})")
        table[name] = from_scratch(fn)
    return sorted(MODELS)


def register_datasets() -> list[str]:
    """``data.sources ['sysumm01']`` etc. through torchreid's public ``register_image_dataset``; idempotent."""
    datasets = compat.data().datasets
    table = vars(datasets)["__image_datasets"]
    for name, cls in DATASETS.items():
        current = table.get(name)
        if current is cls:
            continue
        if current is not None:
            raise KeyError(f"torchreid already has a dataset named {name!r} ({current.__module__})")
        datasets.register_image_dataset(name, cls)
    return sorted(DATASETS)


def register_all() -> None:
    """Everything a torchreid user reaches by name after ``import toplight_plugin``, and the hooks that make
    torchreid's own engines and tools handle them (native.py)."""
    register_models()
    register_datasets()
    register_sampler()
    native.install()

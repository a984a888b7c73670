"""One place that knows both torchreid layouts.

PyPI's ``torchreid`` 0.2.5 repackages deep-person-reid 1.4.0 under ``torchreid.reid.*``
(``import torchreid.data`` fails there, the attribute works); the official package from
git exposes ``torchreid.models`` and ``torchreid.data`` directly. Everything else in the
plugin reaches torchreid through these functions.
"""

from __future__ import annotations

import functools
import warnings
from types import ModuleType


@functools.cache
def torchreid() -> ModuleType:
    with warnings.catch_warnings():
        # Its evaluation falls back to Python without its Cython ranker; the plugin
        # evaluates with its own code, so the warning says nothing to a plugin user.
        warnings.filterwarnings("ignore", message="Cython evaluation", category=UserWarning)
        import torchreid as module
    return module


def models() -> ModuleType:
    return torchreid().models


def data() -> ModuleType:
    return torchreid().data


def model_factory() -> dict:
    """torchreid's private name -> constructor table that ``build_model`` reads."""
    return vars(models())["__model_factory"]

"""The shims fastreid 1.4.0 (PyPI; its code says 1.3) needs under Python >= 3.10, torch 2 and numpy >= 1.24, in one
place, applied before any fastreid module is imported. Each names the upstream line it makes importable.

Two of fast-reid's known troubles need no shim because the plugin never runs that code: ``DataLoaderX`` (it
creates a ``torch.cuda.Stream`` in ``__init__``, even on CPU) and ``ReidEvaluator`` (it runs ``make`` for a Cython
ranker and calls ``sys.exit(1)`` when that fails). The host builds its own loaders (data.py) and its own evaluator
(evaluator.py), which runs the published protocols instead of fast-reid's Market rule.

One trouble is not about imports: under torch 2 its default optimizer trains nothing (``build_optimizer`` below).
"""

from __future__ import annotations

import collections
import collections.abc
import sys
import types

import numpy as np


def apply() -> None:
    """Idempotent; called by the package ``__init__`` before it imports fastreid."""
    if "torch._six" not in sys.modules:
        # fastreid/data/build.py: `from torch._six import string_classes` (torch._six was removed in torch 2.0)
        six = types.ModuleType("torch._six")
        six.string_classes = (str, bytes)
        sys.modules["torch._six"] = six
    if not hasattr(collections, "Mapping"):
        # fastreid/data/build.py: `from collections import Mapping`
        # fastreid/evaluation/testing.py: `from collections import Mapping, OrderedDict` (gone since Python 3.10)
        collections.Mapping = collections.abc.Mapping
    if "bool" not in vars(np):
        # fastreid/evaluation/rank.py: `mask = np.zeros(len(raw_cmc), dtype=np.bool)` (numpy 1.24-1.26 lack np.bool;
        # numpy 2 has it again). fast-reid's ranker is not the plugin's, but a user's own evaluator may call it.
        np.bool = np.bool_


def build_optimizer(cfg, model):
    """fast-reid's optimizer over the parameters themselves, not over its contiguous copy of them.

    fastreid/solver/build.py: `params = ContiguousParams(params)` steps a flat buffer whose ``.grad`` is the model's
    gradients; fastreid/engine/train_loop.py: `self.optimizer.zero_grad()` sets that ``.grad`` to None under torch 2
    (``set_to_none=True`` became the default), so every step skips the buffer and no weight ever changes."""
    from fastreid.solver import build_optimizer as build

    return build(cfg, model, contiguous=False)

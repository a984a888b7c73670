"""The two records the row evaluators share: what is known about the gallery, and per-row results."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class GalleryIndex:
    """Gallery identities in the forms both row evaluators need, computed once per evaluation."""

    pids: np.ndarray  # (num_gallery,) identity of each gallery item
    removable: np.ndarray  # (num_gallery,) bool: removed for queries whose ``q_filtered`` is set (SYSU: cam 2)
    label_order: np.ndarray  # stable argsort of pids: the gallery grouped by identity
    identities: np.ndarray  # sorted distinct pids
    starts: np.ndarray  # start of each identity's group in ``pids[label_order]``
    labels: np.ndarray  # (num_gallery,) index of each item's pid in ``identities``

    @classmethod
    def build(cls, pids: np.ndarray, removable: np.ndarray) -> GalleryIndex:
        label_order = np.argsort(pids, kind="stable")
        identities, starts = np.unique(pids[label_order], return_index=True)
        labels = np.searchsorted(identities, pids)
        return cls(pids, removable, label_order, identities, starts, labels)


@dataclass(frozen=True)
class RowMetrics:
    """Per-query results; ``first`` is the 1-based rank used by the CMC, meaningless where ``valid`` is False."""

    valid: np.ndarray
    first: np.ndarray
    ap: np.ndarray
    inp: np.ndarray

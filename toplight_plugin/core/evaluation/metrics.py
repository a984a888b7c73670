"""SYSU-MM01 and RegDB metrics with the semantics of the public VI-ReID code, exact on any input and fast at scale.

The public ``eval_metrics.py`` shared by AGW / DDAG / CAJ sorts every row and loops over queries in Python. Here
queries are processed in blocks of rows: each row is counted (``counted_rows.py``, no sort) unless a kept negative
sits at exactly a positive's distance, in which case the row is ranked with ``np.argsort`` like the public code
(``sorted_rows.py``), so tied distances are ordered identically. ``distmat`` may be a numpy array, a memory map or a
``FeatureDistances`` (rows computed from features on demand): only one block of rows is ever in memory.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

import numpy as np
import torch

from toplight_plugin.core.evaluation.counted_rows import counted_rows, torch_gallery
from toplight_plugin.core.evaluation.rows import GalleryIndex
from toplight_plugin.core.evaluation.sorted_rows import sorted_rows

# Upper bound on (queries in a block) x (gallery size): the work arrays of one block stay near 100 MB.
_BLOCK_ELEMENTS = 1 << 22


def evaluate_sysu(distmat, q_pids, g_pids, q_camids, g_camids, max_rank: int = 20) -> dict:
    """SYSU-MM01 metrics: cam-2 gallery images are dropped for cam-3 queries; CMC counts distinct identities.

    Returns ``{"cmc": array of min(max_rank, num_gallery) fractions, "mAP": float, "mINP": float}``.
    """
    q_pids, g_pids = _check(distmat, q_pids, g_pids, max_rank)
    num_q, num_g = distmat.shape
    q_camids = _check_vector("q_camids", q_camids, num_q)
    g_camids = _check_vector("g_camids", g_camids, num_g)
    return _evaluate(distmat, q_pids, g_pids, q_camids == 3, g_camids == 2, max_rank, distinct=True)


def evaluate_regdb(distmat, q_pids, g_pids, max_rank: int = 20) -> dict:
    """RegDB metrics: query and gallery come from different modalities, so nothing is removed; CMC is the plain one.

    Returns ``{"cmc": array of min(max_rank, num_gallery) fractions, "mAP": float, "mINP": float}``.
    """
    q_pids, g_pids = _check(distmat, q_pids, g_pids, max_rank)
    num_q, num_g = distmat.shape
    no_q, no_g = np.zeros(num_q, dtype=bool), np.zeros(num_g, dtype=bool)
    return _evaluate(distmat, q_pids, g_pids, no_q, no_g, max_rank, distinct=False)


@functools.cache
def _malloc_trim():
    """glibc's ``malloc_trim``, or None elsewhere.

    Each block allocates and frees tens of MB; glibc then raises its mmap threshold and serves the next blocks from
    the heap, which keeps growing (to 8 GB over 10,000 x 100,000 before this trim). Trimming after each block, down
    to 256 MB of free heap, hands the rest back to the system, so memory stays bounded whatever the query count.
    """
    name = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    return trim


def _check_vector(name: str, value, length: int) -> np.ndarray:
    value = np.asarray(value)
    if value.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {value.shape}")
    if not (np.issubdtype(value.dtype, np.integer) or np.issubdtype(value.dtype, np.floating)):
        raise ValueError(f"{name} must hold numbers, got dtype {value.dtype}")
    return value


def _check(distmat, q_pids, g_pids, max_rank: int) -> tuple[np.ndarray, np.ndarray]:
    shape = getattr(distmat, "shape", None)
    if shape is None or len(shape) != 2 or 0 in shape:
        raise ValueError(f"distmat must have shape (num_query, num_gallery) with both > 0, got {shape}")
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    num_q, num_g = shape
    return _check_vector("q_pids", q_pids, num_q), _check_vector("g_pids", g_pids, num_g)


def _evaluate(distmat, q_pids, g_pids, q_filtered, g_removable, max_rank: int, distinct: bool) -> dict:
    """Shared core: a gallery item is removed for a query when ``q_filtered[q] & g_removable[g]``."""
    num_q, num_g = distmat.shape
    # Like the public code: a gallery smaller than max_rank shortens the curve.
    max_rank = min(max_rank, num_g)
    gallery = GalleryIndex.build(g_pids, g_removable)
    gallery_t = torch_gallery(gallery)

    results = []
    block = max(1, _BLOCK_ELEMENTS // num_g)
    for lo in range(0, num_q, block):
        rows = slice(lo, min(lo + block, num_q))
        dist = np.asarray(distmat[rows])
        # float16 and integer distances are widened (exactly, order kept) for torch's binary search.
        counted_dist = dist if dist.dtype in (np.float32, np.float64) else dist.astype(np.float64)
        metrics, unsure = counted_rows(
            torch.from_numpy(counted_dist),
            torch.from_numpy(q_pids[rows]),
            torch.from_numpy(q_filtered[rows]),
            gallery_t,
            distinct,
        )
        if unsure.any():
            exact = sorted_rows(dist[unsure], q_pids[rows][unsure], q_filtered[rows][unsure], gallery, distinct)
            for field in ("valid", "first", "ap", "inp"):
                getattr(metrics, field)[unsure] = getattr(exact, field)
        results.append(metrics)
        if _malloc_trim() is not None:
            _malloc_trim()(1 << 28)

    valid = np.concatenate([r.valid for r in results])
    if not valid.any():
        raise ValueError("no query has a positive gallery image (after removal), so the metrics are undefined")
    first, ap, inp = (np.concatenate([getattr(r, f) for r in results])[valid] for f in ("first", "ap", "inp"))
    cmc = (first[:, None] <= np.arange(1, max_rank + 1)[None, :]).mean(axis=0)
    return {"cmc": cmc, "mAP": float(ap.mean()), "mINP": float(inp.mean())}


__all__ = ["evaluate_regdb", "evaluate_sysu"]

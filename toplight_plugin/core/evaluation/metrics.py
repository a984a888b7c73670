"""Vectorised SYSU-MM01 and RegDB metrics with the semantics of the public VI-ReID code.

The public ``eval_metrics.py`` shared by AGW / DDAG / CAJ loops over queries in Python; this module computes the same
numbers (CMC, mAP, mINP) for blocks of queries at once. Ranking uses ``np.argsort(distmat, axis=1)`` exactly as the
public code does, so tied distances are ordered identically and the results match it even with ties.
"""

from __future__ import annotations

import numpy as np

# Upper bound on (queries in a block) x (gallery size): keeps the int64/float64 work arrays to a few tens of MB.
_BLOCK_ELEMENTS = 1 << 20


def evaluate_sysu(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_camids: np.ndarray,
    g_camids: np.ndarray,
    max_rank: int = 20,
) -> dict:
    """SYSU-MM01 metrics: cam-2 gallery images are dropped for cam-3 queries; CMC counts distinct identities.

    Returns ``{"cmc": array of min(max_rank, num_gallery) fractions, "mAP": float, "mINP": float}``.
    """
    distmat, q_pids, g_pids = _check(distmat, q_pids, g_pids, max_rank)
    num_q, num_g = distmat.shape
    q_camids = _check_vector("q_camids", q_camids, num_q)
    g_camids = _check_vector("g_camids", g_camids, num_g)
    return _evaluate(distmat, q_pids, g_pids, q_camids == 3, g_camids == 2, max_rank, distinct_cmc=True)


def evaluate_regdb(distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, max_rank: int = 20) -> dict:
    """RegDB metrics: query and gallery come from different modalities, so nothing is removed; CMC is the plain one.

    Returns ``{"cmc": array of min(max_rank, num_gallery) fractions, "mAP": float, "mINP": float}``.
    """
    distmat, q_pids, g_pids = _check(distmat, q_pids, g_pids, max_rank)
    num_q, num_g = distmat.shape
    no_q, no_g = np.zeros(num_q, dtype=bool), np.zeros(num_g, dtype=bool)
    return _evaluate(distmat, q_pids, g_pids, no_q, no_g, max_rank, distinct_cmc=False)


def _check_vector(name: str, value: np.ndarray, length: int) -> np.ndarray:
    value = np.asarray(value)
    if value.shape != (length,):
        raise ValueError(f"{name} must have shape ({length},), got {value.shape}")
    return value


def _check(
    distmat: np.ndarray, q_pids: np.ndarray, g_pids: np.ndarray, max_rank: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    distmat = np.asarray(distmat)
    if distmat.ndim != 2 or 0 in distmat.shape:
        raise ValueError(f"distmat must have shape (num_query, num_gallery) with both > 0, got {distmat.shape}")
    if not isinstance(max_rank, (int, np.integer)) or max_rank < 1:
        raise ValueError(f"max_rank must be a positive integer, got {max_rank!r}")
    num_q, num_g = distmat.shape
    return distmat, _check_vector("q_pids", q_pids, num_q), _check_vector("g_pids", g_pids, num_g)


def _evaluate(
    distmat: np.ndarray,
    q_pids: np.ndarray,
    g_pids: np.ndarray,
    q_filtered: np.ndarray,
    g_removable: np.ndarray,
    max_rank: int,
    distinct_cmc: bool,
) -> dict:
    """Shared core: a gallery item is removed for a query when ``q_filtered[q] & g_removable[g]``."""
    num_q, num_g = distmat.shape
    # Like the public code: a gallery smaller than max_rank shortens the curve.
    max_rank = min(max_rank, num_g)

    # Distinct-identity CMC needs the gallery grouped by identity: compact labels and segment starts.
    label_order = np.argsort(g_pids, kind="stable")
    identities, starts = np.unique(g_pids[label_order], return_index=True)

    ranks, aps, inps = [], [], []
    block = max(1, _BLOCK_ELEMENTS // num_g)
    for lo in range(0, num_q, block):
        hi = min(lo + block, num_q)
        order = np.argsort(distmat[lo:hi], axis=1)  # same call as the public code, hence same tie order
        removed = q_filtered[lo:hi, None] & g_removable[order]
        kept = ~removed
        match = (g_pids[order] == q_pids[lo:hi, None]) & kept
        num_pos = match.sum(axis=1)
        valid = num_pos > 0
        if not valid.any():
            continue
        match, kept, num_pos = match[valid], kept[valid], num_pos[valid]

        # 1-based rank of every item in the filtered list, and number of hits up to it.
        position = np.cumsum(kept, axis=1)
        hits = np.cumsum(match, axis=1)
        precision = np.where(match, hits / np.maximum(position, 1), 0.0)
        aps.append(precision.sum(axis=1) / num_pos)
        inps.append(num_pos / np.where(match, position, 0).max(axis=1))

        if distinct_cmc:
            ranks.append(
                _distinct_rank(order[valid], removed[valid], q_pids[lo:hi][valid], label_order, identities, starts)
            )
        else:
            ranks.append(np.where(match, position, num_g + 1).min(axis=1))

    if not aps:
        raise ValueError("no query has a positive gallery image (after removal), so the metrics are undefined")
    first_rank = np.concatenate(ranks)
    cmc = (first_rank[:, None] <= np.arange(1, max_rank + 1)[None, :]).mean(axis=0)
    return {"cmc": cmc, "mAP": float(np.mean(np.concatenate(aps))), "mINP": float(np.mean(np.concatenate(inps)))}


def _distinct_rank(
    order: np.ndarray,
    removed: np.ndarray,
    q_pids: np.ndarray,
    label_order: np.ndarray,
    identities: np.ndarray,
    starts: np.ndarray,
) -> np.ndarray:
    """1-based rank of each query's identity in the list of distinct gallery identities (first occurrences).

    That rank is the number of identities whose first kept occurrence is no later than the query identity's.
    """
    num_g = order.shape[1]
    rank_of = np.empty_like(order)  # inverse permutation: rank_of[r, g] = position of gallery item g in row r
    np.put_along_axis(rank_of, order, np.broadcast_to(np.arange(num_g), order.shape), axis=1)
    # Removed items move past the end so they never count as a first occurrence.
    rank_of[np.take_along_axis(removed, rank_of, axis=1)] = num_g
    first = np.minimum.reduceat(rank_of[:, label_order], starts, axis=1)
    # Valid queries have a kept positive, so their pid is among the gallery identities.
    own = np.take_along_axis(first, np.searchsorted(identities, q_pids)[:, None], axis=1)
    return (first <= own).sum(axis=1)

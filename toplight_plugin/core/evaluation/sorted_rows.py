"""Per-row metrics from a full ``np.argsort`` of each row: the public code's own ranking, hence exact with ties.

The counting path (``counted_rows.py``) is faster but cannot know how ``np.argsort`` orders tied distances; the rows
where such a tie could change a metric come here.
"""

from __future__ import annotations

import numpy as np

from toplight_plugin.core.evaluation.rows import GalleryIndex, RowMetrics


def sorted_rows(
    dist: np.ndarray, q_pids: np.ndarray, q_filtered: np.ndarray, gallery: GalleryIndex, distinct: bool
) -> RowMetrics:
    """Metrics of each row of ``dist`` (numpy, any float dtype), ranked exactly as ``np.argsort(dist, axis=1)``."""
    num_rows, num_g = dist.shape
    order = np.argsort(dist, axis=1)  # same call as the public code, hence same tie order
    removed = q_filtered[:, None] & gallery.removable[order]
    kept = ~removed
    match = (gallery.pids[order] == q_pids[:, None]) & kept
    num_pos = match.sum(axis=1)
    valid = num_pos > 0
    first = np.zeros(num_rows, dtype=np.int64)
    ap, inp = np.zeros(num_rows), np.zeros(num_rows)
    if not valid.any():
        return RowMetrics(valid, first, ap, inp)
    order, removed, match, kept, pos = order[valid], removed[valid], match[valid], kept[valid], num_pos[valid]

    # 1-based rank of every item in the filtered list, and number of hits up to it.
    position = np.cumsum(kept, axis=1)
    hits = np.cumsum(match, axis=1)
    ap[valid] = np.where(match, hits / np.maximum(position, 1), 0.0).sum(axis=1) / pos
    inp[valid] = pos / np.where(match, position, 0).max(axis=1)
    if distinct:
        first[valid] = _distinct_rank(order, removed, q_pids[valid], gallery)
    else:
        first[valid] = np.where(match, position, num_g + 1).min(axis=1)
    return RowMetrics(valid, first, ap, inp)


def _distinct_rank(order: np.ndarray, removed: np.ndarray, q_pids: np.ndarray, gallery: GalleryIndex) -> np.ndarray:
    """1-based rank of each query's identity in the list of distinct gallery identities (first occurrences).

    That rank is the number of identities whose first kept occurrence is no later than the query identity's.
    """
    num_g = order.shape[1]
    rank_of = np.empty_like(order)  # inverse permutation: rank_of[r, g] = position of gallery item g in row r
    np.put_along_axis(rank_of, order, np.broadcast_to(np.arange(num_g), order.shape), axis=1)
    # Removed items move past the end so they never count as a first occurrence.
    rank_of[np.take_along_axis(removed, rank_of, axis=1)] = num_g
    first = np.minimum.reduceat(rank_of[:, gallery.label_order], gallery.starts, axis=1)
    # Valid queries have a kept positive, so their pid is among the gallery identities.
    own = np.take_along_axis(first, np.searchsorted(gallery.identities, q_pids)[:, None], axis=1)
    return (first <= own).sum(axis=1)

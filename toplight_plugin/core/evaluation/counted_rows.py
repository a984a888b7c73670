"""Per-row metrics from the rank of each positive alone, without ranking the gallery items themselves.

With ``s_1 <= ... <= s_m`` the distances of a query's kept positives, the rank of the j-th positive in the filtered
ranked list is ``j + (number of kept negatives closer than s_j)``; AP, INP and the plain CMC follow from those m
ranks. The counts come from binary searches of ``s`` in the row's sorted *values* (numpy's vectorised sort of floats;
no index permutation, no per-item gathers). The SYSU distinct-identity rank is ``1 +`` the number of identities
whose closest kept item is closer than ``s_1``. These ranks are exact unless a kept negative is at exactly a
positive's distance (or a distance is NaN): those rows are flagged ``unsure`` and ranked by ``sorted_rows.py``,
which reproduces ``np.argsort``'s order for ties.
"""

from __future__ import annotations

import numpy as np
import torch

from toplight_plugin.core.evaluation.rows import GalleryIndex, RowMetrics


def counted_rows(
    dist: torch.Tensor, q_pids: torch.Tensor, q_filtered: torch.Tensor, gallery: dict, distinct: bool
) -> tuple[RowMetrics, np.ndarray]:
    """Metrics of each row of ``dist`` and the bool mask of rows whose result must come from ``sorted_rows``.

    ``gallery`` holds the torch forms of a ``GalleryIndex`` (see ``torch_gallery``).
    """
    num_rows, num_g = dist.shape
    inf = torch.tensor(float("inf"), dtype=dist.dtype)
    removed = q_filtered[:, None] & gallery["removable"][None, :] if q_filtered.any() else None
    match = gallery["pids"][None, :] == q_pids[:, None]
    if removed is not None:
        match &= ~removed
    num_pos = match.sum(dim=1)
    valid = num_pos > 0
    most = int(num_pos.max())
    if most == 0:
        zeros = np.zeros(num_rows)
        return RowMetrics(valid.numpy(), np.zeros(num_rows, dtype=np.int64), zeros, zeros), np.zeros(num_rows, bool)

    # s: each row's positive distances in increasing order, padded with +inf; removed items move to +inf too.
    s = torch.where(match, dist, inf).topk(most, dim=1, largest=False, sorted=True).values
    kept_dist = dist if removed is None else torch.where(removed, inf, dist)
    values = torch.from_numpy(np.sort(kept_dist.numpy(), axis=1))
    closer = torch.searchsorted(values, s)  # kept items (positives included) strictly closer than s_j
    equal = torch.searchsorted(values, s, side="right") - closer
    pos_closer = torch.searchsorted(s, s)  # positives strictly closer than s_j
    pos_equal = torch.searchsorted(s, s, side="right") - pos_closer
    j = torch.arange(1, most + 1)
    present = j[None, :] <= num_pos[:, None]
    unsure = ((equal > pos_equal) & present).any(dim=1) | dist.isnan().any(dim=1)

    rank = (j + closer - pos_closer).to(torch.float64)  # 1-based rank of the j-th positive in the filtered list
    pos = num_pos.clamp(min=1).to(torch.float64)
    ap = torch.where(present, j / rank, 0.0).sum(dim=1) / pos
    inp = pos / rank.gather(1, (num_pos - 1).clamp(min=0)[:, None]).squeeze(1)
    if distinct:
        closest = torch.full((num_rows, len(gallery["identities"])), float("inf"), dtype=dist.dtype)
        closest.scatter_reduce_(1, gallery["labels"].expand(num_rows, num_g), kept_dist, "amin")
        first = (closest < s[:, :1]).sum(dim=1) + 1
    else:
        first = rank[:, 0].to(torch.int64)
    return RowMetrics(valid.numpy(), first.numpy(), ap.numpy(), inp.numpy()), unsure.numpy()


def torch_gallery(gallery: GalleryIndex) -> dict:
    """Tensors of the gallery index, shared by every block."""
    return {
        "pids": torch.from_numpy(np.ascontiguousarray(gallery.pids)),
        "removable": torch.from_numpy(np.ascontiguousarray(gallery.removable)),
        "labels": torch.from_numpy(gallery.labels.astype(np.int64)),
        "identities": gallery.identities,
    }

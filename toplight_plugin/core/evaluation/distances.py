"""A distance matrix that is never materialised: rows are computed from features when the evaluator asks for them.

At 10,000 queries x 100,000 gallery images the float32 matrix alone is 4 GB; the evaluator reads it one block of
rows at a time, so computing each block from the features keeps memory at one block.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from toplight_plugin.core.training.precision import fp32_distances


class FeatureDistances:
    """``-cos(q, g)`` of L2-normalised features, the distance of the public VI-ReID test code, served by row slices.

    ``FeatureDistances(q, g)[lo:hi]`` is a float32 numpy array ``(hi - lo, num_gallery)``; ``shape`` is the full size.
    Pass it to ``evaluate_sysu`` / ``evaluate_regdb`` in place of a distance matrix.
    """

    def __init__(self, query: np.ndarray | torch.Tensor, gallery: np.ndarray | torch.Tensor, device: str = "cpu"):
        query, gallery = torch.as_tensor(query), torch.as_tensor(gallery)
        if query.ndim != 2 or gallery.ndim != 2 or query.shape[1] != gallery.shape[1]:
            raise ValueError(
                f"features must be (num_query, dim) and (num_gallery, dim) with the same dim, "
                f"got {tuple(query.shape)} and {tuple(gallery.shape)}"
            )
        self.device = torch.device(device)
        self.query = F.normalize(query.to(self.device, torch.float32), dim=1)
        self.gallery_t = F.normalize(gallery.to(self.device, torch.float32), dim=1).t().contiguous()
        self.shape = (query.shape[0], gallery.shape[0])
        self.ndim = 2

    def __getitem__(self, rows: slice) -> np.ndarray:
        if not isinstance(rows, slice):
            raise TypeError("FeatureDistances supports row slices only, e.g. distances[0:256]")
        with torch.no_grad(), fp32_distances(self.query.device.type):
            block = torch.mm(self.query[rows], self.gallery_t).neg_()
        return block.cpu().numpy()


ROUNDING = 1e-6  # about 8 float32 ulps of -cos near 1: distances that differ by less are rounding noise


def largest_spread(distances: FeatureDistances, block: int = 1024) -> float:
    """The largest, over the queries, of (farthest - nearest gallery distance). 0: every image got the same
    feature, so any ranking (and rank-1, mAP) reflects only the gallery's order; at most ROUNDING: the features
    differ only by float32 rounding, so the ranking is noise."""
    spread = 0.0
    for lo in range(0, distances.shape[0], block):
        rows = distances[lo : lo + block]
        if rows.size:
            spread = max(spread, float((rows.max(axis=1) - rows.min(axis=1)).max()))
    return spread

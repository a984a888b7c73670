"""NIR-VIS face metrics: rank-1 identification and verification rate at a fixed false accept rate.

Verification uses every probe x gallery pair: genuine pairs share the identity, impostor pairs do not. At FAR = f the
threshold is the (k+1)-th highest impostor similarity with k = floor(f * number of impostor pairs); a pair is
accepted when its similarity is strictly above it, so at most k impostor pairs (a fraction <= f) are accepted.
"""

from __future__ import annotations

import numpy as np

DEFAULT_FARS = (0.01, 0.001)


def evaluate_face(distmat, probe_ids, gallery_ids, fars: tuple[float, ...] = DEFAULT_FARS) -> dict:
    """``{"rank1": fraction, "vr": {far: verification rate}}`` from distances (smaller = more similar)."""
    distmat = np.asarray(distmat, dtype=np.float64)
    probe_ids, gallery_ids = np.asarray(probe_ids), np.asarray(gallery_ids)
    if distmat.ndim != 2 or distmat.shape != (len(probe_ids), len(gallery_ids)) or 0 in distmat.shape:
        raise ValueError(
            f"distmat must be (num_probe, num_gallery) = ({len(probe_ids)}, {len(gallery_ids)}), got {distmat.shape}"
        )
    genuine_mask = probe_ids[:, None] == gallery_ids[None, :]
    if not genuine_mask.any() or genuine_mask.all():
        raise ValueError("face verification needs both genuine and impostor pairs")
    rank1 = float(np.mean(gallery_ids[np.argmin(distmat, axis=1)] == probe_ids))
    similarity = -distmat
    genuine, impostor = similarity[genuine_mask], np.sort(similarity[~genuine_mask])[::-1]
    vr = {}
    for far in fars:
        if not 0 < far < 1:
            raise ValueError(f"FAR must be in (0, 1), got {far}")
        allowed = int(np.floor(far * impostor.size))
        threshold = impostor[allowed] if allowed < impostor.size else -np.inf
        vr[far] = float(np.mean(genuine > threshold))
    return {"rank1": rank1, "vr": vr}

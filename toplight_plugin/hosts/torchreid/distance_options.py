"""torchreid's test distance options (``test.dist_metric``, ``test.normalize_feature``, ``test.rerank``) as figures
beside the published protocol's.

The published VI protocols rank by the cosine distance of L2-normalised features; torchreid's defaults (euclidean,
raw features, no re-ranking) are what every torchreid config carries, so they ask for nothing. Set otherwise, the
protocol (its drop rules, gallery trials and metrics) runs a second time on torchreid's own distance
(``metrics.compute_distance_matrix``, ``utils.re_ranking``), under a name that says it is not the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import compat

METRICS = ("euclidean", "cosine")  # what torchreid's compute_distance_matrix takes


@dataclass(frozen=True)
class TorchreidDistance:
    dist_metric: str = "euclidean"
    normalize_feature: bool = False
    rerank: bool = False

    def __post_init__(self):
        if self.dist_metric not in METRICS:
            raise ValueError(f"test.dist_metric must be one of {list(METRICS)}, got {self.dist_metric!r}")

    @property
    def requested(self) -> bool:
        """Anything other than torchreid's defaults."""
        return self != TorchreidDistance()

    @property
    def label(self) -> str:
        """Appended to a protocol's name in what is printed and in results.json."""
        parts = [self.dist_metric] + ["normalize_feature"] * self.normalize_feature + ["rerank"] * self.rerank
        return f" [torchreid {' + '.join(parts)}: not the published protocol]"

    def __call__(self, query: torch.Tensor, gallery: torch.Tensor) -> np.ndarray:
        """The (query, gallery) distance matrix as torchreid's ``Engine._evaluate`` computes it."""
        query, gallery = torch.as_tensor(query).float(), torch.as_tensor(gallery).float()
        if self.normalize_feature:
            query, gallery = F.normalize(query, dim=1), F.normalize(gallery, dim=1)
        distance = compat.torchreid().metrics.compute_distance_matrix
        matrix = distance(query, gallery, self.dist_metric).numpy()
        if self.rerank:
            rerank = compat.torchreid().utils.re_ranking
            matrix = rerank(matrix, distance(query, query, self.dist_metric).numpy(),
                            distance(gallery, gallery, self.dist_metric).numpy())  # fmt: skip
        return matrix.astype(np.float32)

"""Cross-modality retrieval over a folder of images: a faiss index of unit-length features, ranked lists with
distances, and the pictures of them.

Identities are read from the folder layout when there is one: an image's identity is the name of the folder that
holds it (``<id>/<image>``, as in SYSU-MM01's ``cam*/<id>/`` and RegDB's ``Visible/<id>/``). A gallery whose
images all sit in one folder has no known identities, and matches are not judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from toplight_plugin.core.evaluation.distances import ROUNDING, FeatureDistances, largest_spread


def identities(paths: list[Path]) -> list[str] | None:
    """Each image's folder name, or None when the images do not come in at least two folders."""
    names = [p.parent.name for p in paths]
    return names if len(set(names)) >= 2 else None


class GalleryIndex:
    """Exact inner-product search (faiss ``IndexFlatIP``); on unit-length features the distance reported is
    1 - cosine similarity, so 0 is the same descriptor and 2 the opposite one."""

    def __init__(self, features: np.ndarray):
        _check_finite(features, "gallery")
        self.index = faiss.IndexFlatIP(features.shape[1])
        self.index.add(np.ascontiguousarray(features, dtype=np.float32))

    def __len__(self) -> int:
        return self.index.ntotal

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, gallery indices), each Q x min(k, gallery size), nearest first."""
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        _check_finite(queries, "query")
        similarity, order = self.index.search(np.ascontiguousarray(queries, dtype=np.float32), min(k, len(self)))
        if (order < 0).any():  # faiss pads with -1 where it found fewer neighbours; never index with it
            raise ValueError(f"the index returned fewer than {min(k, len(self))} neighbours for some queries")
        return 1.0 - similarity, order


def _check_finite(features: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(features).all(axis=1)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} {what} feature(s) not finite (NaN or inf), first row {int(bad.argmax())}")


def tie_warning(query_features: np.ndarray, gallery_features: np.ndarray) -> str | None:
    """What evaluation says of features that tie (protocols.refuse_ties), for a search, which still shows its
    ranking: None when the distances differ by more than float32 rounding."""
    spread = largest_spread(FeatureDistances(query_features, gallery_features))
    if spread == 0:
        return ("every query is at the same distance from every gallery image (the features do not differ): the "
                "order is the gallery's, not a match")  # fmt: skip
    if spread <= ROUNDING:
        return (f"the gallery distances of every query differ by less than {ROUNDING:g} (float32 rounding): the "
                "features barely differ, so the order is rounding noise")  # fmt: skip
    return None


@dataclass
class Ranking:
    query: Path
    query_identity: str | None
    gallery: list[Path]
    distances: list[float]
    identities: list[str] | None

    @property
    def matches(self) -> list[bool] | None:
        if self.identities is None or self.query_identity is None:
            return None
        return [identity == self.query_identity for identity in self.identities]

    def to_json(self) -> dict:
        matches = self.matches
        return {
            "query": str(self.query),
            "identity": self.query_identity,
            "results": [
                {
                    "rank": i + 1,
                    "path": str(path),
                    "distance": round(float(d), 6),
                    "identity": None if self.identities is None else self.identities[i],
                    "match": None if matches is None else matches[i],
                }
                for i, (path, d) in enumerate(zip(self.gallery, self.distances, strict=True))
            ],
        }


def rank(query_paths, query_features, gallery_paths, index: GalleryIndex, k: int) -> list[Ranking]:
    """One Ranking per query; identities are compared only when both sides have them."""
    gallery_ids, query_ids = identities(gallery_paths), identities(query_paths)
    if query_ids is None and gallery_ids is not None and len(query_paths) == 1:
        folder = query_paths[0].parent.name  # a single query judged when its folder names a gallery identity
        query_ids = [folder] if folder in gallery_ids else None
    distances, order = index.search(query_features, k)
    return [
        Ranking(
            query=q,
            query_identity=None if query_ids is None else query_ids[i],
            gallery=[gallery_paths[j] for j in order[i]],
            distances=distances[i].tolist(),
            identities=None if gallery_ids is None else [gallery_ids[j] for j in order[i]],
        )
        for i, q in enumerate(query_paths)
    ]

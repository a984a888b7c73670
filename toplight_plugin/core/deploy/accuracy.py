"""Whether a deployed graph keeps the model's accuracy: the SYSU-MM01 all-search protocol (infrared queries of cameras
3 and 6 against single-shot visible galleries of cameras 1, 2, 4 and 5, the cam-3 / cam-2 rule, mean over gallery
trials) run on the features of exported graphs, and each graph's features compared with a float32 reference's.

Rank-1 and mAP move by whole queries, so on a small test set a change of one query is a visible step; the cosine
between the candidate's and the reference's features of the same image measures the quantisation itself, image by
image, without that granularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toplight_plugin.core.data import sysu_mm01
from toplight_plugin.core.deploy.embedder import Embedder
from toplight_plugin.core.evaluation.distances import FeatureDistances
from toplight_plugin.core.evaluation.metrics import evaluate_sysu
from toplight_plugin.core.models.dual_path import INFRARED, VISIBLE


@dataclass
class TestSet:
    """The test identities' query (infrared) and gallery-candidate (visible) images of a SYSU-MM01 layout."""

    root: str
    query: list
    candidates: list

    @classmethod
    def read(cls, root) -> TestSet:
        return cls(str(root), sysu_mm01.query_records(root), sysu_mm01.gallery_candidates(root))


@dataclass
class Features:
    query: np.ndarray
    gallery: np.ndarray


def embed(test: TestSet, embedders: dict[int, Embedder], batch_size: int = 32) -> Features:
    """Features of every query with the infrared graph and every gallery candidate with the visible one."""
    return Features(
        embedders[INFRARED].embed_files([r.path for r in test.query], INFRARED, batch_size),
        embedders[VISIBLE].embed_files([r.path for r in test.candidates], VISIBLE, batch_size),
    )


def all_search(test: TestSet, features: Features, trials: int = 10) -> dict[str, float]:
    """Rank-1 and mAP (%), mean over ``trials`` single-shot all-search galleries (seeded as the public code)."""
    q_pids = np.array([r.pid for r in test.query])
    q_cams = np.array([r.camid for r in test.query])
    g_pids = np.array([r.pid for r in test.candidates])
    g_cams = np.array([r.camid for r in test.candidates])
    index = {r.path: i for i, r in enumerate(test.candidates)}
    rank1, m_ap = [], []
    for trial in range(trials):
        pick = np.array([index[p] for p in sysu_mm01.sample_gallery(test.root, "all", trial)])
        result = evaluate_sysu(FeatureDistances(features.query, features.gallery[pick]), q_pids, g_pids[pick],
                               q_cams, g_cams[pick])  # fmt: skip
        rank1.append(100 * float(result["cmc"][0]))
        m_ap.append(100 * float(result["mAP"]))
    return {"rank1": float(np.mean(rank1)), "mAP": float(np.mean(m_ap))}


def cosines(features: Features, reference: Features) -> np.ndarray:
    """Per image (queries, then gallery candidates): the cosine between its candidate and reference features."""
    return np.concatenate([(features.query * reference.query).sum(axis=1),
                           (features.gallery * reference.gallery).sum(axis=1)])  # fmt: skip


def compare(test: TestSet, features: Features, reference: Features, trials: int = 10) -> dict[str, float]:
    """All-search figures of ``features``, their change from ``reference``'s, and the cosines to it."""
    own, base = all_search(test, features, trials), all_search(test, reference, trials)
    cos = cosines(features, reference)
    return {**own, "d_rank1": own["rank1"] - base["rank1"], "d_mAP": own["mAP"] - base["mAP"],
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}  # fmt: skip

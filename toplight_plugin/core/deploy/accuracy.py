"""Whether a deployed graph keeps the model's accuracy: a published test protocol run on the features of exported
graphs, and each graph's features compared with a float32 reference's. Two protocols:

- SYSU-MM01 all-search: infrared queries of cameras 3 and 6 against single-shot visible galleries of cameras 1, 2,
  4 and 5, the cam-3 / cam-2 rule, mean over gallery trials;
- RegDB visible to infrared: the visible test images of one trial (split) query its thermal test images, every
  one in the gallery; nothing is removed (one camera per modality) and the CMC is the plain one.

Rank-1 and mAP move by whole queries, so on a small test set a change of one query is a visible step; the cosine
between the candidate's and the reference's features of the same image measures the quantisation itself, image by
image, without that granularity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from toplight_plugin.core.data import regdb, sysu_mm01
from toplight_plugin.core.deploy.embedder import Embedder
from toplight_plugin.core.evaluation.distances import FeatureDistances
from toplight_plugin.core.evaluation.metrics import evaluate_regdb, evaluate_sysu

SYSU, REGDB = "sysu", "regdb"


@dataclass
class TestSet:
    """The query and gallery images of a protocol's test identities (for SYSU-MM01 the gallery is every candidate
    of the all-search trials), each list of one modality; ``trial`` is RegDB's split, unused for SYSU-MM01."""

    protocol: str
    root: str
    query: list
    gallery: list
    trial: int = 1

    @classmethod
    def sysu(cls, root) -> TestSet:
        return cls(SYSU, str(root), sysu_mm01.query_records(root), sysu_mm01.gallery_candidates(root))

    @classmethod
    def regdb(cls, root, trial: int = 1) -> TestSet:
        query, gallery = regdb.eval_records(root, trial, "v2i")
        return cls(REGDB, str(root), query, gallery, trial)

    def describe(self, trials: int) -> str:
        if self.protocol == SYSU:
            return f"SYSU-MM01 all-search, mean of {trials} single-shot gallery trials"
        return (f"RegDB visible to infrared, trial {self.trial} ({len(self.query)} visible queries, "
                f"{len(self.gallery)} thermal gallery images)")  # fmt: skip


@dataclass
class Features:
    query: np.ndarray
    gallery: np.ndarray


def embed(test: TestSet, embedders: dict[int, Embedder], batch_size: int = 32) -> Features:
    """Features of the queries and the gallery, each list with the graph of its modality."""
    query, gallery = test.query[0].modality, test.gallery[0].modality
    return Features(
        embedders[query].embed_files([r.path for r in test.query], query, batch_size),
        embedders[gallery].embed_files([r.path for r in test.gallery], gallery, batch_size),
    )


def _pids(records) -> np.ndarray:
    return np.array([r.pid for r in records])


def all_search(test: TestSet, features: Features, trials: int = 10) -> dict[str, float]:
    """Rank-1 and mAP (%), mean over ``trials`` single-shot all-search galleries (seeded as the public code)."""
    q_cams = np.array([r.camid for r in test.query])
    g_pids, g_cams = _pids(test.gallery), np.array([r.camid for r in test.gallery])
    index = {r.path: i for i, r in enumerate(test.gallery)}
    rank1, m_ap = [], []
    for trial in range(trials):
        pick = np.array([index[p] for p in sysu_mm01.sample_gallery(test.root, "all", trial)])
        result = evaluate_sysu(FeatureDistances(features.query, features.gallery[pick]), _pids(test.query),
                               g_pids[pick], q_cams, g_cams[pick])  # fmt: skip
        rank1.append(100 * float(result["cmc"][0]))
        m_ap.append(100 * float(result["mAP"]))
    return {"rank1": float(np.mean(rank1)), "mAP": float(np.mean(m_ap))}


def visible_to_infrared(test: TestSet, features: Features) -> dict[str, float]:
    """RegDB's rank-1 and mAP (%) of the visible queries against the whole thermal gallery."""
    result = evaluate_regdb(FeatureDistances(features.query, features.gallery), _pids(test.query), _pids(test.gallery))
    return {"rank1": 100 * float(result["cmc"][0]), "mAP": 100 * float(result["mAP"])}


def scores(test: TestSet, features: Features, trials: int = 10) -> dict[str, float]:
    """Rank-1 and mAP (%) of ``features`` under ``test``'s protocol (``trials``: SYSU-MM01's gallery trials)."""
    return all_search(test, features, trials) if test.protocol == SYSU else visible_to_infrared(test, features)


def cosines(features: Features, reference: Features) -> np.ndarray:
    """Per image (queries, then gallery): the cosine between its candidate and reference features."""
    return np.concatenate([(features.query * reference.query).sum(axis=1),
                           (features.gallery * reference.gallery).sum(axis=1)])  # fmt: skip


def compare(test: TestSet, features: Features, reference: Features, trials: int = 10) -> dict[str, float]:
    """The protocol's figures of ``features``, their change from ``reference``'s, and the cosines to it."""
    own, base = scores(test, features, trials), scores(test, reference, trials)
    cos = cosines(features, reference)
    return {**own, "d_rank1": own["rank1"] - base["rank1"], "d_mAP": own["mAP"] - base["mAP"],
            "cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}  # fmt: skip

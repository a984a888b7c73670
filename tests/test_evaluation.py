"""VI-ReID metrics: vectorised code against a per-query reference of the public AGW/DDAG/CAJ algorithm."""

import numpy as np
import pytest

from toplight_plugin.core.evaluation import metrics
from toplight_plugin.evaluation import evaluate_regdb, evaluate_sysu


def _pad(curve: np.ndarray, max_rank: int) -> np.ndarray:
    """Short curves (fewer kept items or identities than max_rank) keep their last value; the public code crashes."""
    curve = np.asarray(curve, dtype=np.float64)[:max_rank]
    last = curve[-1] if curve.size else 0.0
    return np.concatenate([curve, np.full(max_rank - curve.size, last)])


def _reference(distmat, q_pids, g_pids, q_camids, g_camids, max_rank, sysu):
    """Step-by-step rewrite of eval_sysu / eval_regdb (mangye16/Cross-Modal-Re-ID-baseline, eval_metrics.py)."""
    num_q, num_g = distmat.shape
    max_rank = min(max_rank, num_g)
    indices = np.argsort(distmat, axis=1)
    distinct_sum, plain_sum, aps, inps = np.zeros(max_rank), np.zeros(max_rank), [], []
    for q in range(num_q):
        order = indices[q]
        keep = ~((q_camids[q] == 3) & (g_camids[order] == 2)) if sysu else np.ones(num_g, dtype=bool)
        labels = g_pids[order][keep]
        # SYSU: first occurrence of each identity, in ranked order; added for every query, as in the public code.
        _, first_index = np.unique(labels, return_index=True)
        distinct = labels[np.sort(first_index)]
        distinct_sum += _pad(np.cumsum(distinct == q_pids[q]), max_rank)
        hits = (labels == q_pids[q]).astype(int)
        if not hits.any():
            continue
        cum = np.cumsum(hits)
        hardest = np.max(np.where(hits == 1))
        inps.append(cum[hardest] / (hardest + 1.0))
        plain_sum += _pad(np.minimum(cum, 1), max_rank)
        aps.append((cum / np.arange(1.0, len(hits) + 1) * hits).sum() / hits.sum())
    if not aps:
        return None  # the public code's assert fires here
    cmc = (distinct_sum if sysu else plain_sum) / len(aps)
    return cmc, np.mean(aps), np.mean(inps)


def _random_case(rng, num_q, num_g, num_ids, max_rank):
    # Coarse integer distances give many ties; a few query ids absent from the gallery give queries with no positive.
    distmat = rng.integers(0, 6, size=(num_q, num_g)).astype(rng.choice([np.float32, np.float64]))
    g_pids = rng.integers(0, num_ids, size=num_g)
    q_pids = rng.integers(0, num_ids + 2, size=num_q)
    q_camids = rng.choice([3, 6], size=num_q)
    g_camids = rng.choice([1, 2, 4, 5], size=num_g)
    return distmat, q_pids, g_pids, q_camids, g_camids, max_rank


@pytest.mark.parametrize("seed", range(40))
def test_matches_reference_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    num_g = int(rng.integers(1, 60))
    args = _random_case(rng, int(rng.integers(1, 80)), num_g, int(rng.integers(1, 25)), int(rng.integers(1, 30)))
    distmat, q_pids, g_pids, q_camids, g_camids, max_rank = args
    for sysu in (True, False):
        expected = _reference(*args, sysu=sysu)
        if sysu:
            call = lambda: evaluate_sysu(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)  # noqa: E731
        else:
            call = lambda: evaluate_regdb(distmat, q_pids, g_pids, max_rank)  # noqa: E731
        if expected is None:
            with pytest.raises(ValueError, match="no query has a positive"):
                call()
            continue
        got = call()
        assert got["cmc"].shape == (min(max_rank, num_g),)
        np.testing.assert_allclose(got["cmc"], expected[0], rtol=1e-12)
        np.testing.assert_allclose(got["mAP"], expected[1], rtol=1e-12)
        np.testing.assert_allclose(got["mINP"], expected[2], rtol=1e-12)
        assert isinstance(got["mAP"], float) and isinstance(got["mINP"], float)


def test_matches_reference_at_sysu_scale_with_blocks(monkeypatch):
    # Blocks of 2**16 // 301 = 217 queries, so block boundaries (and a short last block) are exercised.
    monkeypatch.setattr(metrics, "_BLOCK_ELEMENTS", 1 << 16)
    rng = np.random.default_rng(123)
    args = _random_case(rng, 3803, 301, 96, 20)
    got = evaluate_sysu(*args)
    cmc, m_ap, m_inp = _reference(*args, sysu=True)
    np.testing.assert_allclose(got["cmc"], cmc, rtol=1e-12)
    np.testing.assert_allclose([got["mAP"], got["mINP"]], [m_ap, m_inp], rtol=1e-12)


def test_cam3_query_whose_only_positive_is_in_cam2_is_skipped():
    distmat = np.array([[0.1, 0.2, 0.3], [0.1, 0.2, 0.3]])
    g_pids, g_camids = np.array([7, 8, 9]), np.array([2, 1, 1])
    # Query 0 (id 7, cam 3) has its only positive in cam 2: skipped. Query 1 (id 8, cam 6): hit at rank 2.
    out = evaluate_sysu(distmat, np.array([7, 8]), g_pids, np.array([3, 6]), g_camids, max_rank=3)
    np.testing.assert_allclose(out["cmc"], [0.0, 1.0, 1.0])
    assert out["mAP"] == pytest.approx(0.5) and out["mINP"] == pytest.approx(0.5)


def test_cam3_query_drops_cam2_images_of_other_identities_too():
    distmat = np.array([[0.1, 0.2]])
    # The cam-2 impostor ranked first disappears, so the cam-1 positive becomes rank 1.
    out = evaluate_sysu(distmat, np.array([5]), np.array([4, 5]), np.array([3]), np.array([2, 1]), max_rank=2)
    np.testing.assert_allclose(out["cmc"], [1.0, 1.0])
    assert out["mAP"] == 1.0 and out["mINP"] == 1.0


def test_distinct_identity_cmc_differs_from_plain_cmc():
    # Ranked gallery ids: 1, 1, 1, 2, 9 for a query of id 2 (cam 6, nothing removed).
    # Plain CMC (RegDB): first hit at rank 4 -> [0, 0, 0, 1, 1].
    # Distinct-identity CMC (SYSU): distinct list 1, 2, 9 -> id 2 at rank 2 -> [0, 1, 1, 1, 1].
    # AP = 1/4 and INP = 1/4 in both (one positive, at rank 4).
    distmat = np.array([[0.1, 0.2, 0.3, 0.4, 0.5]])
    g_pids, q_pids = np.array([1, 1, 1, 2, 9]), np.array([2])
    sysu = evaluate_sysu(distmat, q_pids, g_pids, np.array([6]), np.array([1, 1, 4, 5, 1]), max_rank=5)
    regdb = evaluate_regdb(distmat, q_pids, g_pids, max_rank=5)
    np.testing.assert_allclose(sysu["cmc"], [0, 1, 1, 1, 1])
    np.testing.assert_allclose(regdb["cmc"], [0, 0, 0, 1, 1])
    assert sysu["mAP"] == regdb["mAP"] == pytest.approx(0.25)
    assert sysu["mINP"] == regdb["mINP"] == pytest.approx(0.25)


def test_minp_and_ap_on_one_query():
    # Ranked matches: 1 0 1 0 1 0 -> 3 positives, hardest at rank 5: INP = 3/5.
    # AP = (1/1 + 2/3 + 3/5) / 3 = 34/45.
    distmat = np.arange(6, dtype=float)[None, :]
    out = evaluate_regdb(distmat, np.array([1]), np.array([1, 0, 1, 0, 1, 0]), max_rank=3)
    assert out["mINP"] == pytest.approx(3 / 5)
    assert out["mAP"] == pytest.approx(34 / 45)
    np.testing.assert_allclose(out["cmc"], [1, 1, 1])


def test_small_gallery_shortens_the_curve():
    out = evaluate_regdb(np.array([[0.3, 0.1]]), np.array([1]), np.array([1, 2]), max_rank=20)
    np.testing.assert_allclose(out["cmc"], [0.0, 1.0])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"q_pids": np.zeros(3)}, r"q_pids must have shape \(2,\), got \(3,\)"),
        ({"g_pids": np.zeros((4, 1))}, r"g_pids must have shape \(4,\), got \(4, 1\)"),
        ({"q_camids": np.zeros(1)}, r"q_camids must have shape \(2,\)"),
        ({"g_camids": np.zeros(5)}, r"g_camids must have shape \(4,\)"),
        ({"distmat": np.zeros(8)}, r"distmat must have shape \(num_query, num_gallery\)"),
        ({"max_rank": 0}, r"max_rank must be a positive integer"),
    ],
)
def test_input_validation(kwargs, message):
    args = {
        "distmat": np.zeros((2, 4)),
        "q_pids": np.zeros(2),
        "g_pids": np.zeros(4),
        "q_camids": np.full(2, 6),
        "g_camids": np.ones(4),
        "max_rank": 20,
    }
    with pytest.raises(ValueError, match=message):
        evaluate_sysu(**{**args, **kwargs})


def test_no_query_with_a_positive_raises():
    with pytest.raises(ValueError, match="no query has a positive"):
        evaluate_regdb(np.zeros((2, 3)), np.array([5, 6]), np.array([1, 2, 3]))
    # Only positive in cam 2 for a cam-3 query: removed, so nothing is left.
    with pytest.raises(ValueError, match="no query has a positive"):
        evaluate_sysu(np.zeros((1, 2)), np.array([1]), np.array([1, 2]), np.array([3]), np.array([2, 1]))

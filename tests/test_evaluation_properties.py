"""Property tests: the metrics against the per-query reference, and the counting path against the sorting path."""

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_evaluation import _reference

from toplight_plugin.core.evaluation.counted_rows import counted_rows, torch_gallery
from toplight_plugin.core.evaluation.rows import GalleryIndex
from toplight_plugin.core.evaluation.sorted_rows import sorted_rows
from toplight_plugin.evaluation import FeatureDistances, evaluate_regdb, evaluate_sysu

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def cases(draw, tied: bool):
    """Random SYSU-like inputs: tiny galleries, absent query ids, cam-3 queries, tied or tie-free distances."""
    num_q, num_g = draw(st.integers(1, 12)), draw(st.integers(1, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if tied:
        distmat = rng.integers(0, 4, size=(num_q, num_g)).astype(np.float32)
    else:  # a permutation per row: no two distances are equal
        distmat = np.argsort(rng.random((num_q, num_g)), axis=1).astype(np.float64) / num_g
    num_ids = draw(st.integers(1, 8))
    g_pids = rng.integers(0, num_ids, size=num_g)
    q_pids = rng.integers(0, num_ids + 1, size=num_q)
    q_camids = rng.choice([3, 6], size=num_q)
    g_camids = rng.choice([1, 2, 4, 5], size=num_g)
    return distmat, q_pids, g_pids, q_camids, g_camids, draw(st.integers(1, 25))


def _check(args, sysu):
    expected = _reference(*args, sysu=sysu)
    if expected is None:
        return
    distmat, q_pids, g_pids, q_camids, g_camids, max_rank = args
    if sysu:
        got = evaluate_sysu(distmat, q_pids, g_pids, q_camids, g_camids, max_rank)
    else:
        got = evaluate_regdb(distmat, q_pids, g_pids, max_rank)
    np.testing.assert_allclose(got["cmc"], expected[0], rtol=1e-12)
    np.testing.assert_allclose([got["mAP"], got["mINP"]], expected[1:], rtol=1e-12)


@SETTINGS
@given(cases(tied=False), st.booleans())
def test_tie_free_matches_reference(args, sysu):
    _check(args, sysu)


@SETTINGS
@given(cases(tied=True), st.booleans())
def test_tied_matches_reference(args, sysu):
    _check(args, sysu)


@SETTINGS
@given(cases(tied=False), st.booleans())
def test_counting_path_is_exact_without_ties(args, distinct):
    distmat, q_pids, g_pids, q_camids, g_camids, _ = args
    gallery = GalleryIndex.build(g_pids, g_camids == 2)
    q_filtered = q_camids == 3
    counted, unsure = counted_rows(
        torch.from_numpy(distmat),
        torch.from_numpy(q_pids),
        torch.from_numpy(q_filtered),
        torch_gallery(gallery),
        distinct,
    )
    exact = sorted_rows(distmat, q_pids, q_filtered, gallery, distinct)
    assert not unsure.any()  # without ties nothing is handed to the sorting path
    np.testing.assert_array_equal(counted.valid, exact.valid)
    v = exact.valid
    np.testing.assert_array_equal(counted.first[v], exact.first[v])
    np.testing.assert_allclose(counted.ap[v], exact.ap[v], rtol=1e-12)
    np.testing.assert_allclose(counted.inp[v], exact.inp[v], rtol=1e-12)


def test_positive_tied_with_a_negative_is_sent_to_the_sorting_path():
    distmat = torch.tensor([[0.5, 0.5, 0.9], [0.1, 0.5, 0.9]])
    gallery = GalleryIndex.build(np.array([1, 2, 2]), np.zeros(3, dtype=bool))
    _, unsure = counted_rows(
        distmat, torch.tensor([1, 1]), torch.zeros(2, dtype=torch.bool), torch_gallery(gallery), False
    )
    np.testing.assert_array_equal(unsure, [True, False])


def test_feature_distances_equal_the_explicit_matrix():
    rng = np.random.default_rng(0)
    q, g = rng.standard_normal((37, 16)).astype(np.float32), rng.standard_normal((53, 16)).astype(np.float32)
    qn, gn = q / np.linalg.norm(q, axis=1, keepdims=True), g / np.linalg.norm(g, axis=1, keepdims=True)
    lazy = FeatureDistances(q, g)
    assert lazy.shape == (37, 53)
    np.testing.assert_allclose(lazy[5:20], -(qn @ gn.T)[5:20], atol=1e-6)
    q_pids, g_pids = rng.integers(0, 5, 37), rng.integers(0, 5, 53)
    a = evaluate_regdb(lazy, q_pids, g_pids)
    b = evaluate_regdb(lazy[0:37], q_pids, g_pids)
    np.testing.assert_array_equal(a["cmc"], b["cmc"])
    assert a["mAP"] == b["mAP"] and a["mINP"] == b["mINP"]

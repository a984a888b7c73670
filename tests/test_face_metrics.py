"""Face metrics against a direct count over all probe x gallery pairs."""

import numpy as np
import pytest

from toplight_plugin.evaluation import evaluate_face


def test_rank1_and_verification_rate_against_direct_counts():
    rng = np.random.default_rng(0)
    probe_ids, gallery_ids = rng.integers(0, 30, 400), np.arange(30).repeat(3)
    distmat = rng.random((400, 90)) - 0.3 * (probe_ids[:, None] == gallery_ids[None, :])
    out = evaluate_face(distmat, probe_ids, gallery_ids)
    assert out["rank1"] == pytest.approx(np.mean(gallery_ids[distmat.argmin(1)] == probe_ids))
    genuine, sim = probe_ids[:, None] == gallery_ids[None, :], -distmat

    def accepted(t):
        return (sim[~genuine] > t).sum()

    for far, vr in out["vr"].items():
        # The threshold accepts at most far x impostors; one notch lower would accept more.
        thresholds = np.sort(sim[~genuine])[::-1]
        t = thresholds[int(far * thresholds.size)]
        assert accepted(t) <= far * thresholds.size < accepted(t - 1e-12)
        assert vr == pytest.approx(np.mean(sim[genuine] > t))
    assert 0 < out["vr"][0.001] <= out["vr"][0.01] < 1


def test_perfect_separation_and_errors():
    ids = np.arange(5)
    out = evaluate_face(1 - np.eye(5), ids, ids)
    assert out["rank1"] == 1.0 and out["vr"] == {0.01: 1.0, 0.001: 1.0}
    with pytest.raises(ValueError, match="genuine and impostor"):
        evaluate_face(np.zeros((2, 2)), [1, 1], [1, 1])
    with pytest.raises(ValueError, match="distmat must be"):
        evaluate_face(np.zeros((3, 2)), [1, 2], [1, 2])

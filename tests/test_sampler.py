"""Cross-modality PK sampler: batch composition, determinism, coverage, exact length, DDP shares."""

import numpy as np
import pytest

from toplight_plugin.core.data.sampler import CrossModalityPKSampler


def _source(num_ids=13, rng_seed=0):
    """Identity i has 1 + i % 9 visible and 2 + i % 5 infrared images; id 99 is visible only."""
    pids, modalities = [], []
    for pid in range(num_ids):
        for modality, count in ((0, 1 + pid % 9), (1, 2 + pid % 5)):
            pids += [pid] * count
            modalities += [modality] * count
    pids += [99, 99]
    modalities += [0, 0]
    order = np.random.default_rng(rng_seed).permutation(len(pids))
    return [pids[i] for i in order], [modalities[i] for i in order]


def _batches(sampler):
    indices = list(sampler)
    assert len(indices) == len(sampler)  # __len__ is exact
    return [indices[i : i + sampler.batch_size] for i in range(0, len(indices), sampler.batch_size)]


def test_batch_composition_and_replacement():
    pids, modalities = _source()
    with pytest.warns(UserWarning, match=r"one modality only are excluded: \[99\]"):
        sampler = CrossModalityPKSampler(pids, modalities, num_identities=4, num_instances=3, seed=1)
    batches = _batches(sampler)
    eligible = [m for p, m in zip(pids, modalities, strict=True) if p != 99]
    largest = max(eligible.count(0), eligible.count(1))
    assert len(batches) == largest // (4 * 3)  # about one pass over the larger modality, as in the public code
    for batch in batches:
        assert len(batch) == 4 * 2 * 3
        for group in range(4):
            chunk = batch[group * 6 : (group + 1) * 6]
            assert len({pids[i] for i in chunk}) == 1  # one identity per group of 2K
            assert [modalities[i] for i in chunk] == [0, 0, 0, 1, 1, 1]
            visible = chunk[:3]
            # With replacement only when the identity has fewer than K visible images.
            if sum(1 for p, m in zip(pids, modalities, strict=True) if p == pids[chunk[0]] and m == 0) >= 3:
                assert len(set(visible)) == 3
        assert len({pids[i] for i in batch}) == 4  # P distinct identities
    assert 99 not in {pids[i] for b in batches for i in b}


def test_determinism_epochs_and_coverage():
    pids, modalities = _source()
    with pytest.warns(UserWarning):
        a = CrossModalityPKSampler(pids, modalities, 4, 3, seed=5)
    with pytest.warns(UserWarning):
        b = CrossModalityPKSampler(pids, modalities, 4, 3, seed=5)
    first, second = list(a), list(a)
    assert first == list(b) and second == list(b)  # same seed, same sequence of epochs
    assert first != second  # epochs differ
    b.set_epoch(0)
    assert list(b) == first  # set_epoch replays an epoch (resume)
    seen = set()
    for _ in range(5):
        seen |= {pids[i] for i in a}
    assert seen == set(range(13))  # every identity with both modalities is visited


def test_ddp_shares_are_disjoint_and_equal():
    pids, modalities = _source(num_ids=30)
    with pytest.warns(UserWarning):
        single = CrossModalityPKSampler(pids, modalities, 3, 2, seed=7, rank=0, world_size=1)
    shares = []
    for rank in range(3):
        with pytest.warns(UserWarning):
            shares.append(CrossModalityPKSampler(pids, modalities, 3, 2, seed=7, rank=rank, world_size=3))
    lists = [_batches(s) for s in shares]
    per_rank = len(single) // single.batch_size // 3
    assert per_rank > 0 and all(len(s) == per_rank * 12 for s in shares)  # equal whole shares
    # Ranks deal the single-process epoch's batches round-robin: disjoint slots of one sequence.
    whole = _batches(single)
    for rank in range(3):
        assert lists[rank] == whole[rank::3][:per_rank]


def test_errors():
    with pytest.raises(ValueError, match="differ in length"):
        CrossModalityPKSampler([0, 1], [0], 1, 1)
    with pytest.raises(ValueError, match="modalities must be"):
        CrossModalityPKSampler([0, 0], [0, 2], 1, 1)
    with pytest.raises(ValueError, match="cannot fill one batch"):
        CrossModalityPKSampler([0, 0, 1, 1], [0, 1, 0, 1], num_identities=3, num_instances=1)
    with pytest.raises(ValueError, match="make no batch"):
        CrossModalityPKSampler([0, 0, 1, 1], [0, 1, 0, 1], num_identities=2, num_instances=2)

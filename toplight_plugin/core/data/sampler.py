"""Cross-modality PK sampler: every batch holds P identities x (K visible + K infrared) images.

An epoch is as long as in the public VI-ReID training code that the paper's epoch-based schedule comes from (the
``IdentitySampler`` of AGW / DDAG / CAJ): ``max(#visible, #infrared) // (P * K)`` batches, i.e. about one pass over
the larger modality. Each batch draws P distinct identities (among those with both modalities) and, for each, K
visible and K infrared images, with replacement only when the identity has fewer than K in that modality. Under DDP
the epoch's batches are dealt round-robin to the ranks, each rank getting the same number of whole batches (extra
batches are dropped), so the ranks' shares are disjoint.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler

from toplight_plugin.core.data.records import INFRARED, VISIBLE

NAME = "CrossModalityPKSampler"  # what a config's sampler.train_sampler names it


class CrossModalityPKSampler(Sampler[int]):
    """Yields dataset indices; batch them with ``batch_size = P * 2K`` (``batch_sampler`` style is not needed).

    ``pids`` and ``modalities`` are per-sample sequences. The epoch used for shuffling advances by one at each
    ``iter()``; ``set_epoch`` fixes it (resume, DDP), as with ``DistributedSampler``.
    """

    def __init__(
        self,
        pids: Sequence[int],
        modalities: Sequence[int],
        num_identities: int = 6,
        num_instances: int = 6,
        seed: int = 0,
        rank: int | None = None,
        world_size: int | None = None,
    ):
        if len(pids) != len(modalities):
            raise ValueError(f"pids and modalities differ in length: {len(pids)} vs {len(modalities)}")
        if num_identities < 1 or num_instances < 1:
            raise ValueError(f"P and K must be at least 1, got P={num_identities}, K={num_instances}")
        unknown = set(modalities) - {VISIBLE, INFRARED}
        if unknown:
            raise ValueError(
                f"modalities must be {VISIBLE} (visible) or {INFRARED} (infrared), found {sorted(unknown)}"
            )
        if world_size is None:
            world_size = dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1
        if rank is None:
            rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        if not 0 <= rank < world_size:
            raise ValueError(f"rank must be in [0, {world_size}), got {rank}")

        index: dict[int, dict[int, list[int]]] = defaultdict(lambda: {VISIBLE: [], INFRARED: []})
        for i, (pid, modality) in enumerate(zip(pids, modalities, strict=True)):
            index[int(pid)][int(modality)].append(i)
        one_sided = sorted(pid for pid, m in index.items() if not (m[VISIBLE] and m[INFRARED]))
        if one_sided:
            warnings.warn(
                f"CrossModalityPKSampler: {len(one_sided)} identit(y/ies) with images in one modality only are "
                f"excluded: {one_sided[:20]}{' ...' if len(one_sided) > 20 else ''}",
                stacklevel=2,
            )
        self.identities = np.array(sorted(pid for pid in index if pid not in one_sided))
        self.pools = {pid: (np.array(index[pid][VISIBLE]), np.array(index[pid][INFRARED])) for pid in self.identities}
        self.P, self.K, self.seed = num_identities, num_instances, seed
        self.rank, self.world_size = rank, world_size
        if len(self.identities) < self.P:
            raise ValueError(
                f"CrossModalityPKSampler: {len(self.identities)} identities with both modalities cannot fill one batch "
                f"of P={self.P} distinct identities"
            )
        largest = max(sum(len(self.pools[pid][m]) for pid in self.identities) for m in (VISIBLE, INFRARED))
        self.batches_per_rank = largest // (self.P * self.K) // world_size
        if self.batches_per_rank == 0:
            raise ValueError(
                f"CrossModalityPKSampler: {largest} images per modality make no batch of P x K = {self.P * self.K} "
                f"on each of {world_size} rank(s)"
            )
        self.epoch = 0

    @property
    def batch_size(self) -> int:
        return self.P * 2 * self.K

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return self.batches_per_rank * self.batch_size

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        # Every rank draws the same epoch from the shared generator (batch by batch: identities, then images), then
        # keeps its own batches; the first batches are the same whatever the epoch's length.
        picks = []
        for _ in range(self.batches_per_rank * self.world_size):
            picks.append([self._draw(rng, int(pid)) for pid in rng.choice(self.identities, self.P, replace=False)])
        for batch in picks[self.rank :: self.world_size]:
            for visible, infrared in batch:
                yield from visible.tolist()
                yield from infrared.tolist()

    def _draw(self, rng: np.random.Generator, pid: int) -> tuple[np.ndarray, np.ndarray]:
        return tuple(rng.choice(pool, self.K, replace=len(pool) < self.K) for pool in self.pools[pid])


def fit_batch(batch_size: int, num_instances: int) -> tuple[int, str]:
    """The batch the sampler can draw for ``batch_size`` and a line saying why it differs ("" when it fits): the
    largest multiple of its group 2K not above ``batch_size`` with at least two identities (the triplet's negatives).

    torchreid's configs pick batch sizes for samplers that draw any size (torchreid's 64 against the paper's
    6 x (6 + 6) = 72 here): such a config trains, and the line names the sizes and K values that fit as written.
    Raises ValueError when even two identities do not fit, rather than grow the batch beyond what was asked.
    """
    group = 2 * num_instances
    if batch_size < 2 * group:
        raise ValueError(
            f"train.batch_size {batch_size} holds fewer than two identities of 2 x sampler.num_instances "
            f"({group}) images, so the triplet loss has no negatives: use {batch_fits(batch_size, num_instances)}"
        )
    if batch_size % group == 0:
        return batch_size, ""
    lower = batch_size - batch_size % group
    return lower, (
        f"train.batch_size {batch_size} is not a multiple of 2 x sampler.num_instances ({group}): training with "
        f"{lower} ({lower // group} identities x ({num_instances} visible + {num_instances} infrared)); "
        f"{batch_fits(batch_size, num_instances)} fit as written"
    )


def batch_fits(batch_size: int, num_instances: int) -> str:
    """The nearest settings the sampler draws as written: train.batch_size values (multiples of 2K holding two
    identities or more) around ``batch_size``, and sampler.num_instances values that divide ``batch_size``."""
    group = 2 * num_instances
    lower = batch_size - batch_size % group
    sizes = f"{2 * group} or more" if lower < 2 * group else f"{lower} or {lower + group}"
    fits = [k for k in range(1, batch_size // 4 + 1) if batch_size % (2 * k) == 0]
    other_k = f", or sampler.num_instances {' or '.join(map(str, _nearest(fits, num_instances)))}" if fits else ""
    return f"train.batch_size {sizes}{other_k}"


def _nearest(values: list[int], target: int) -> list[int]:
    """The closest value below ``target`` and the closest above (those that exist)."""
    below, above = [v for v in values if v < target], [v for v in values if v > target]
    return ([max(below)] if below else []) + ([min(above)] if above else [])

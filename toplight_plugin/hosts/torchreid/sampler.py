"""``sampler.train_sampler CrossModalityPKSampler`` inside torchreid's own data manager.

torchreid chooses samplers in an if/elif chain of ``build_train_sampler``, and its data manager module imports that
function by name, so both references are replaced by a wrapper that handles the plugin's sampler and hands every
other name to the original.
"""

from __future__ import annotations

import functools

import torch

from toplight_plugin.core.data.sampler import NAME, CrossModalityPKSampler, batch_fits

from . import compat


def build_cross_modality_sampler(data_source, batch_size: int, num_instances: int) -> CrossModalityPKSampler:
    """P = batch_size / (2K) identities per batch, K = ``num_instances`` images per modality; seeded from torch."""
    modalities = getattr(data_source, "modalities", None)
    if modalities is None or len(modalities) != len(data_source):
        raise ValueError(
            f"{NAME} needs the per-image modality that the plugin's datasets carry (sysumm01, regdb, oulu_nirvis, "
            "buaa_visnir) and a single training source; this training set has none (another dataset, or several "
            "sources combined by torchreid)"
        )
    if num_instances < 1:
        raise ValueError(f"{NAME}: sampler.num_instances must be at least 1, got {num_instances}")
    if batch_size % (2 * num_instances):
        raise ValueError(
            f"{NAME}: train.batch_size ({batch_size}) must be a multiple of 2 x sampler.num_instances "
            f"({2 * num_instances}): each identity brings num_instances visible and num_instances infrared images; "
            f"use {batch_fits(batch_size, num_instances)}"
        )
    if batch_size < 4 * num_instances:
        raise ValueError(
            f"{NAME}: train.batch_size {batch_size} with sampler.num_instances {num_instances} holds one identity "
            f"per batch, so the triplet loss has no negatives: use {batch_fits(batch_size, num_instances)}"
        )
    pids = [item[1] for item in data_source]
    return CrossModalityPKSampler(
        pids, modalities, batch_size // (2 * num_instances), num_instances, seed=torch.initial_seed() % 2**63
    )


def register_sampler() -> None:
    """Idempotent: the wrapper is installed once, in the sampler module and in the data manager module."""
    sampler_module, manager_module = compat.data().sampler, compat.data().datamanager
    original = sampler_module.build_train_sampler
    if getattr(original, "toplight_wrapped", None) is not None:
        manager_module.build_train_sampler = original
        return

    @functools.wraps(original)
    def build_train_sampler(data_source, train_sampler, batch_size=32, num_instances=4, **kwargs):
        if train_sampler == NAME:
            return build_cross_modality_sampler(data_source, batch_size, num_instances)
        return original(data_source, train_sampler, batch_size=batch_size, num_instances=num_instances, **kwargs)

    build_train_sampler.toplight_wrapped = original
    sampler_module.build_train_sampler = manager_module.build_train_sampler = build_train_sampler
    if NAME not in sampler_module.AVAI_SAMPLERS:
        sampler_module.AVAI_SAMPLERS.append(NAME)

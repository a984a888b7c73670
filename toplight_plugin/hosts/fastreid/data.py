"""The loaders of the fast-reid host: images read by the core (EXIF orientation, bad-image policy), the modality in
every batch dict, and the cross-modality PK sampler in training.

fast-reid's DDP wrapper sets no ``find_unused_parameters``, so a batch without one modality would leave that stem
without gradients and stop the run: training batches always come from CrossModalityPKSampler (P identities x (K
visible + K infrared)). fast-reid's loop draws every batch of a run from one iterator, as from its infinite
TrainingSampler, so the sampler's epochs follow one another (``Epochs``). Plain torch DataLoaders are used: fast-reid's
DataLoaderX needs CUDA.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch
import torchvision.transforms as T
from fastreid.data.common import CommDataset
from fastreid.data.samplers import InferenceSampler
from fastreid.utils import comm
from torch.utils.data import BatchSampler, DataLoader, Sampler

from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.loading import one_opencv_thread
from toplight_plugin.core.data.resized_copy import check_copy
from toplight_plugin.core.data.sampler import CrossModalityPKSampler
from toplight_plugin.core.data.transforms import ModalityAugment

from .config import SAMPLER, device_batches, normalisation
from .datasets import build_dataset


class ModalityImages(CommDataset):
    """fast-reid's CommDataset over ``(path, pid, camid, modality)`` items: ``modality`` joins each item's dict, and
    training images go through the augmentation of their modality (core.data.transforms)."""

    def __init__(self, items, transform=None, relabel=True, augment: ModalityAugment | None = None):
        super().__init__(items, transform, relabel)
        self.augment = augment

    def __getitem__(self, index):
        path, pid, camid, modality = self.img_items[index]
        image, extra = read_image(path), {}
        if self.augment is not None and self.augment.on_device:  # uint8, finished by the model (modeling.py)
            image, extra["post_ops"] = self.augment(np.asarray(image), modality)
        else:
            image = self.augment(np.asarray(image), modality) if self.augment is not None else self.transform(image)
        if self.relabel:
            pid, camid = self.pid_dict[pid], self.cam_dict[camid]
        return {"images": image, "targets": pid, "camids": camid, "img_paths": path, "modality": modality, **extra}


def test_transform(cfg) -> T.Compose:
    """Resize to INPUT.SIZE_TEST, then normalise: the torchreid host's test transform, so the same checkpoint gives
    the same features in both hosts."""
    mean, std = normalisation(cfg)
    return T.Compose([T.Resize(tuple(cfg.INPUT.SIZE_TEST)), T.ToTensor(), T.Normalize(mean, std)])


class Epochs(Sampler[int]):
    """The PK sampler's epochs one after another, without end (each epoch its own draw)."""

    def __init__(self, sampler: CrossModalityPKSampler):
        self.sampler = sampler

    def __iter__(self) -> Iterator[int]:
        while True:
            yield from self.sampler


def pk_sampler(cfg, train_set: ModalityImages) -> CrossModalityPKSampler:
    """P = (SOLVER.IMS_PER_BATCH / world size) / 2K identities per batch, K = DATALOADER.NUM_INSTANCE per modality;
    seeded as fast-reid seeds its TrainingSampler (one seed shared by the processes)."""
    if cfg.DATALOADER.SAMPLER_TRAIN != SAMPLER:
        raise ValueError(f"DATALOADER.SAMPLER_TRAIN must be {SAMPLER}, got {cfg.DATALOADER.SAMPLER_TRAIN!r}: every "
                         "batch must hold both modalities (fast-reid's DDP expects a gradient for every stem)")
    batch, k = cfg.SOLVER.IMS_PER_BATCH // comm.get_world_size(), cfg.DATALOADER.NUM_INSTANCE
    if k < 1 or batch % (2 * k) or batch < 4 * k:
        raise ValueError(f"SOLVER.IMS_PER_BATCH per process ({batch}) must be a multiple of 2 x "
                         f"DATALOADER.NUM_INSTANCE ({2 * k}) holding at least two identities (the triplet loss's "
                         "negatives)")  # fmt: skip
    pids = [train_set.pid_dict[item[1]] for item in train_set.img_items]
    modalities = [item[3] for item in train_set.img_items]
    return CrossModalityPKSampler(pids, modalities, batch // (2 * k), k, seed=comm.shared_random_seed())


def build_train_loader(cfg) -> DataLoader:
    datasets = [build_dataset(cfg, name) for name in cfg.DATASETS.NAMES]
    height, width = cfg.INPUT.SIZE_TRAIN
    for dataset in datasets:
        check_copy(dataset.dataset_root, height, width)  # a resized copy read at another size
    items = [item for dataset in datasets for item in dataset.train]
    augment = ModalityAugment.preset(cfg.TOPLIGHT.AUGMENT, height, width, *normalisation(cfg), device_batches(cfg))
    train_set = ModalityImages(items, relabel=True, augment=augment)
    sampler = pk_sampler(cfg, train_set)
    if cfg.DATALOADER.NUM_WORKERS:
        one_opencv_thread()
    return DataLoader(train_set, batch_sampler=BatchSampler(Epochs(sampler), sampler.batch_size, drop_last=True),
                      num_workers=cfg.DATALOADER.NUM_WORKERS, pin_memory=torch.cuda.is_available())  # fmt: skip


def build_test_loader(cfg, dataset) -> DataLoader:
    """``query + gallery`` of a plugin dataset, shared among the processes as fast-reid's test loader shares it."""
    test_set = ModalityImages(dataset.query + dataset.gallery, test_transform(cfg), relabel=False)
    batches = BatchSampler(InferenceSampler(len(test_set)), cfg.TEST.IMS_PER_BATCH // comm.get_world_size(), False)
    return DataLoader(test_set, batch_sampler=batches, num_workers=cfg.DATALOADER.NUM_WORKERS)

"""A training loader whose workers live across epochs (no re-forking and re-importing each epoch, batches prefetched
ahead) and still start every epoch exactly as fresh workers would: the base seed a new DataLoader iterator draws
from torch's generator is drawn the same way at each epoch and handed to the workers, which seed torch and random
from it as DataLoader seeds a new worker. Runs, resumes included, are the same with persistent workers as without."""

from __future__ import annotations

import multiprocessing
import random

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info


def one_opencv_thread() -> None:
    """Loader workers run OpenCV (albumentations' resizes and warps) on one thread each: N workers, each with a pool
    of every core, would oversubscribe the CPUs. Set in the training process before its workers fork; they inherit
    it. Set inside a forked worker it would tear down a thread pool whose threads the fork did not copy, and hang."""
    cv2.setNumThreads(1)


class EpochSeeded(Dataset):
    """``dataset`` whose items, in a worker, follow the epoch's base seed (``shared``) once it changes."""

    def __init__(self, dataset: Dataset, shared):
        self.dataset, self.shared, self.seen = dataset, shared, None

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, index):
        worker = get_worker_info()
        if worker is not None and self.shared.value != self.seen:
            self.seen = self.shared.value
            seed = self.seen + worker.id  # what DataLoader gives worker ``id`` of a new iterator
            random.seed(seed)
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
        return self.dataset[index]


class PersistentLoader:
    """``loader`` (a map-style training DataLoader with workers) rebuilt with persistent workers and
    ``prefetch_factor`` batches in flight per worker; iterated, sized and asked for its sampler as the original.
    ``generator``: where each epoch's base seed is drawn (the one ``loader`` was given; torch's default if none)."""

    def __init__(self, loader: DataLoader, generator: torch.Generator | None = None, prefetch_factor: int = 4):
        if loader.num_workers < 1:
            raise ValueError("persistent workers need data.workers of at least 1")
        one_opencv_thread()
        self.shared = multiprocessing.RawValue("q", 0)
        self.dataset, self.sampler, self.batch_size = loader.dataset, loader.sampler, loader.batch_size
        self.generator = generator
        self.loader = DataLoader(
            EpochSeeded(loader.dataset, self.shared), batch_size=loader.batch_size, sampler=loader.sampler,
            num_workers=loader.num_workers, collate_fn=loader.collate_fn, pin_memory=loader.pin_memory,
            drop_last=loader.drop_last, persistent_workers=True, prefetch_factor=prefetch_factor,
            generator=torch.Generator(),  # its own first draw leaves torch's generator as a new iterator would
        )  # fmt: skip

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.shared.value = int(torch.empty((), dtype=torch.int64).random_(generator=self.generator))  # as iter() would
        return iter(self.loader)

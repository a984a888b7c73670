"""torchreid dataset adapters: the parsers' records as torchreid ``ImageDataset`` subclasses.

torchreid builds each dataset three times (train, query, gallery) with its own keywords (``root``, ``split_id``,
``transform``, ...), so the adapters accept ``**kwargs``. Items stay torchreid's 4-tuples; the modality of each
image travels in the lists themselves (``SampleList.modalities``), where the sampler and ``__getitem__`` read it.
The trial comes from ``trial`` or else torchreid's ``split_id`` (SYSU-MM01 trial = split_id, 0..9; RegDB trial =
split_id + 1, 1..10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toplight_plugin.core.data import faces, regdb, sysu_mm01
from toplight_plugin.core.data.images import drop_unreadable, read_image
from toplight_plugin.core.data.records import Record

from . import compat


class SampleList(list):
    """A torchreid item list ``[(path, pid, camid, dsetid), ...]`` that also knows each item's modality."""

    def __init__(self, records: list[Record]):
        super().__init__((r.path, r.pid, r.camid, 0) for r in records)
        self.modalities = [r.modality for r in records]


def _locate(root: str, folders: tuple[str, ...]) -> Path:
    """``root`` itself, or the first of the usual dataset folder names found under it."""
    root = Path(root).expanduser()
    for name in folders:
        if (root / name).is_dir():
            return root / name
    return root


class _CrossModalityDataset(compat.data().ImageDataset):
    """Shared behaviour: per-modality augmentation, ``modality`` in every item, opt-in skipping of bad images."""

    folders: tuple[str, ...] = ()

    def __init__(self, train, query, gallery, *, augment=None, skip_bad_images=False, **kwargs):
        if skip_bad_images:
            train, query, gallery = (drop_unreadable(part, type(self).__name__) for part in (train, query, gallery))
        self.augment = augment
        super().__init__(SampleList(train), SampleList(query), SampleList(gallery), **kwargs)

    def __getitem__(self, index):
        path, pid, camid, dsetid = self.data[index]
        modality = self.data.modalities[index]
        image = read_image(path)
        if self.augment is not None:
            image = self.augment(np.asarray(image), modality)
        elif self.transform is not None:
            image = self._transform_image(self.transform, self.k_tfm, image)
        return {"img": image, "pid": pid, "camid": camid, "impath": path, "dsetid": dsetid, "modality": modality}


class SYSUMM01(_CrossModalityDataset):
    """SYSU-MM01: ``sysu_mode`` all / indoor, ``trial`` 0..9, ``shots`` 1 / 10, optional ``rand_perm`` file."""

    folders = ("SYSU-MM01", "sysu_mm01", "sysu")

    def __init__(self, root="", sysu_mode="all", trial=None, shots=1, rand_perm=None, split_id=0, **kwargs):
        path = _locate(root, self.folders)
        trial = split_id if trial is None else trial
        train = sysu_mm01.train_records(path)
        query = sysu_mm01.query_records(path)
        gallery = sysu_mm01.gallery_records(path, sysu_mode, trial, shots, rand_perm)
        super().__init__(train, query, gallery, **kwargs)


class RegDB(_CrossModalityDataset):
    """RegDB: ``trial`` 1..10, ``regdb_direction`` v2i (visible query) or i2v."""

    folders = ("RegDB", "regdb")

    def __init__(self, root="", trial=None, regdb_direction="v2i", split_id=0, **kwargs):
        path = _locate(root, self.folders)
        trial = split_id + 1 if trial is None else trial
        query, gallery = regdb.eval_records(path, trial, regdb_direction)
        super().__init__(regdb.train_records(path, trial), query, gallery, **kwargs)


class _FaceDataset(_CrossModalityDataset):
    protocol: faces.FaceProtocol

    def __init__(self, root="", train_list=None, test_list=None, gallery_list=None, **kwargs):
        split = faces.load(_locate(root, self.folders), self.protocol, train_list, test_list, gallery_list)
        super().__init__(split["train"], split["probe"], split["gallery"], **kwargs)


class OuluNIRVIS(_FaceDataset):
    """Oulu-CASIA NIR-VIS: 20 train / 20 test subjects, all VIS in the gallery, NIR probes (docs/data.md)."""

    folders = ("Oulu-CASIA-NIR-VIS", "oulu_nirvis")
    protocol = faces.OULU


class BUAAVisNir(_FaceDataset):
    """BUAA-VisNir: 50 train / 100 test subjects, one VIS per subject in the gallery, NIR probes (docs/data.md)."""

    folders = ("BUAA-VisNir", "buaa_visnir")
    protocol = faces.BUAA


DATASETS = {"sysumm01": SYSUMM01, "regdb": RegDB, "oulu_nirvis": OuluNIRVIS, "buaa_visnir": BUAAVisNir}

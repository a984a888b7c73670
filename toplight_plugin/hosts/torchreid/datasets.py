"""torchreid dataset adapters: the parsers' records as torchreid ``ImageDataset`` subclasses.

torchreid builds each dataset three times (train, query, gallery) with its own keywords (``root``, ``split_id``,
``transform``, ...), so the adapters accept ``**kwargs``. Items stay torchreid's 4-tuples; the modality of each
image travels in the lists themselves (``SampleList.modalities``), where the sampler and ``__getitem__`` read it.
The trial comes from ``trial`` or else torchreid's ``split_id`` (SYSU-MM01 trial = split_id, 0..9; RegDB trial =
split_id + 1, 1..10).
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

import numpy as np

from toplight_plugin.core.data import faces, regdb, sysu_mm01
from toplight_plugin.core.data.images import read_image, screen
from toplight_plugin.core.data.records import LayoutError, Record
from toplight_plugin.core.data.resized_copy import check_copy

from . import compat

# Keywords for the adapters that torchreid's data manager cannot pass (it forwards a fixed set); see dataset_options.
_OPTIONS: ContextVar[tuple] = ContextVar("toplight_dataset_options", default=())


@contextmanager
def dataset_options(**options):
    """Adapters built inside this block (e.g. by ``ImageDataManager``) receive ``options`` as keywords."""
    token = _OPTIONS.set(tuple({**dict(_OPTIONS.get()), **options}.items()))
    try:
        yield
    finally:
        _OPTIONS.reset(token)


def _with_options(kwargs: dict, names: tuple[str, ...]) -> dict:
    """Explicit keywords win over the ``dataset_options`` block; options another adapter uses are dropped."""
    return {**{k: v for k, v in _OPTIONS.get() if k in names}, **kwargs}


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
    """Shared behaviour: per-modality augmentation of training images, ``modality`` in every item, opt-in skipping of
    bad images. ``dataset_root`` and ``protocol`` tell the evaluation which protocol to run on the dataset."""

    folders: tuple[str, ...] = ()
    layout = ""  # the expected file tree, shown when a split comes out empty
    protocol = ""
    shared_options = ("augment", "bad_images")

    def __init__(self, root: Path, train, query, gallery, *, augment=None, bad_images="fail", **kwargs):
        train, query, gallery = (screen(part, type(self).__name__, bad_images) for part in (train, query, gallery))
        for name, part in (("train", train), ("query", query), ("gallery", gallery)):
            if not part:  # torchreid would fail later with an IndexError deep in its evaluation
                raise LayoutError(
                    f"{type(self).__name__}: no {name} images under {root}: the identity lists name no image that "
                    f"exists. Expected layout:\n{self.layout}"
                )
        self.dataset_root = root
        self.augment = augment if kwargs.get("mode", "train") == "train" else None
        if self.augment is not None and self.augment.size:
            check_copy(root, *self.augment.size)  # a resized copy read at another size
        super().__init__(SampleList(train), SampleList(query), SampleList(gallery), **kwargs)

    def __getitem__(self, index):
        path, pid, camid, dsetid = self.data[index]
        modality = self.data.modalities[index]
        image, extra = read_image(path), {}
        if self.augment is not None and self.augment.on_device:  # uint8, finished on the device (engine.py)
            image, extra["post_ops"] = self.augment(np.asarray(image), modality)
        elif self.augment is not None:
            image = self.augment(np.asarray(image), modality)
        elif self.transform is not None:
            image = self._transform_image(self.transform, self.k_tfm, image)
        return {"img": image, "pid": pid, "camid": camid, "impath": path, "dsetid": dsetid, "modality": modality,
                **extra}  # fmt: skip


class SYSUMM01(_CrossModalityDataset):
    """SYSU-MM01: ``sysu_mode`` all / indoor, ``trial`` 0..9, ``shots`` 1 / 10, optional ``rand_perm`` file."""

    folders = ("SYSU-MM01", "sysu_mm01", "sysu")
    layout = sysu_mm01.TREE
    protocol = "sysu"
    options = ("sysu_mode", "trial", "shots", "rand_perm")

    def __init__(self, root="", split_id=0, **kwargs):
        kwargs = _with_options(kwargs, self.options + self.shared_options)
        mode, trial = kwargs.pop("sysu_mode", "all"), kwargs.pop("trial", None)
        shots, rand_perm = kwargs.pop("shots", 1), kwargs.pop("rand_perm", None)
        path = _locate(root, self.folders)
        trial = split_id if trial is None else trial
        train = sysu_mm01.train_records(path)
        query = sysu_mm01.query_records(path)
        gallery = sysu_mm01.gallery_records(path, mode, trial, shots, rand_perm or None)
        super().__init__(path, train, query, gallery, **kwargs)


class RegDB(_CrossModalityDataset):
    """RegDB: ``trial`` 1..10, ``regdb_direction`` v2i (visible query) or i2v."""

    folders = ("RegDB", "regdb")
    layout = regdb.TREE
    protocol = "regdb"
    options = ("trial", "regdb_direction")

    def __init__(self, root="", split_id=0, **kwargs):
        kwargs = _with_options(kwargs, self.options + self.shared_options)
        trial, direction = kwargs.pop("trial", None), kwargs.pop("regdb_direction", "v2i")
        path = _locate(root, self.folders)
        self.trial = split_id + 1 if trial is None else trial
        self.direction = direction
        query, gallery = regdb.eval_records(path, self.trial, direction)
        super().__init__(path, regdb.train_records(path, self.trial), query, gallery, **kwargs)


class _FaceDataset(_CrossModalityDataset):
    face_protocol: faces.FaceProtocol
    protocol = "face"
    layout = faces.TREE
    options = ("train_list", "test_list", "gallery_list")

    def __init__(self, root="", **kwargs):
        kwargs = _with_options(kwargs, self.options + self.shared_options)
        lists = [kwargs.pop(name, None) for name in self.options]
        path = _locate(root, self.folders)
        split = faces.load(path, self.face_protocol, *lists)
        super().__init__(path, split["train"], split["probe"], split["gallery"], **kwargs)


class OuluNIRVIS(_FaceDataset):
    """Oulu-CASIA NIR-VIS: 20 train / 20 test subjects, all VIS in the gallery, NIR probes (docs/datasets.md)."""

    folders = ("Oulu-CASIA-NIR-VIS", "oulu_nirvis")
    face_protocol = faces.OULU


class BUAAVisNir(_FaceDataset):
    """BUAA-VisNir: 50 train / 100 test subjects, one VIS per subject in the gallery, NIR probes (docs/datasets.md)."""

    folders = ("BUAA-VisNir", "buaa_visnir")
    face_protocol = faces.BUAA


DATASETS = {"sysumm01": SYSUMM01, "regdb": RegDB, "oulu_nirvis": OuluNIRVIS, "buaa_visnir": BUAAVisNir}

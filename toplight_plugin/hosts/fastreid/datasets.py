"""SYSU-MM01, RegDB and the NIR-VIS face sets in fast-reid's DATASET_REGISTRY, read by the core parsers.

Items are ``(path, pid, camid, modality)``: fast-reid's 3-tuple plus the modality, which the plugin's loaders put
in every batch (data.py). Training identities and cameras carry the dataset name, as fast-reid's own datasets do, so
that several training sets combine. The test part is ``query + gallery``; SYSU-MM01's gallery holds every candidate
of the all-search gallery (indoor is a subset), from which evaluator.py samples each trial as the protocol says.
"""

from __future__ import annotations

import os
from pathlib import Path

from fastreid.data.datasets import DATASET_REGISTRY
from fastreid.data.datasets.bases import ImageDataset

from toplight_plugin.core.data import faces, sysu_mm01
from toplight_plugin.core.data import regdb as regdb_files
from toplight_plugin.core.data.images import screen
from toplight_plugin.core.data.records import LayoutError, Record


def dataset_root(cfg) -> str:
    """TOPLIGHT.ROOT, else fast-reid's own choice: ``$FASTREID_DATASETS``, else ``datasets``."""
    return cfg.TOPLIGHT.ROOT or os.getenv("FASTREID_DATASETS", "datasets")


def dataset_options(cfg) -> dict:
    top = cfg.TOPLIGHT
    return dict(regdb_trial=top.REGDB_TRIAL, regdb_direction=top.REGDB_DIRECTION, bad_images=top.BAD_IMAGES)


def locate(root: str, folders: tuple[str, ...]) -> Path:
    """``root`` itself, or the first of the usual dataset folder names found under it."""
    root = Path(root).expanduser()
    return next((root / name for name in folders if (root / name).is_dir()), root)


class _VIDataset(ImageDataset):
    """The parsers' records as fast-reid items; ``protocol`` and ``dataset_root`` tell the evaluator which
    published protocol to run."""

    folders: tuple[str, ...] = ()
    layout = ""
    protocol = ""

    def __init__(self, root="datasets", bad_images="fail", **kwargs):
        self.dataset_root = locate(root, self.folders)
        parts = self.parts(self.dataset_root, **kwargs)
        name = type(self).__name__
        train, query, gallery = (screen(part, name, bad_images) for part in parts)
        for label, part in (("train", train), ("query", query), ("gallery", gallery)):
            if not part:
                raise LayoutError(f"{name}: no {label} images under {self.dataset_root}: the identity lists name no "
                                  f"image that exists. Expected layout:\n{self.layout}")  # fmt: skip
        tag = self.dataset_name
        train = [(r.path, f"{tag}_{r.pid}", f"{tag}_{r.camid}", r.modality) for r in train]
        super().__init__(train, [tuple(r) for r in query], [tuple(r) for r in gallery], **_base(kwargs))

    def parts(self, root: Path, **kwargs) -> tuple[list[Record], list[Record], list[Record]]:
        raise NotImplementedError


def _base(kwargs: dict) -> dict:
    """The keywords of fast-reid's ImageDataset among those a loader passes."""
    return {k: v for k, v in kwargs.items() if k in ("transform", "mode", "combineall", "verbose")}


@DATASET_REGISTRY.register()
class SYSUMM01(_VIDataset):
    """SYSU-MM01: the 296 + 99 training identities; query = every infrared image of the test identities."""

    dataset_name = "sysumm01"
    folders = ("SYSU-MM01", "sysu_mm01", "sysu")
    layout = sysu_mm01.TREE
    protocol = "sysu"

    def parts(self, root, **kwargs):
        return sysu_mm01.train_records(root), sysu_mm01.query_records(root), sysu_mm01.gallery_candidates(root)


@DATASET_REGISTRY.register()
class RegDB(_VIDataset):
    """RegDB: split TOPLIGHT.REGDB_TRIAL; query in the modality TOPLIGHT.REGDB_DIRECTION names first."""

    dataset_name = "regdb"
    folders = ("RegDB", "regdb")
    layout = regdb_files.TREE
    protocol = "regdb"

    def __init__(self, root="datasets", regdb_trial=1, regdb_direction="v2i", **kwargs):
        self.trial, self.direction = regdb_trial, regdb_direction
        super().__init__(root, **kwargs)

    def parts(self, root, **kwargs):
        query, gallery = regdb_files.eval_records(root, self.trial, self.direction)
        return regdb_files.train_records(root, self.trial), query, gallery


class _FaceDataset(_VIDataset):
    face_protocol: faces.FaceProtocol
    layout = faces.TREE
    protocol = "face"

    def parts(self, root, **kwargs):
        split = faces.load(root, self.face_protocol)
        return split["train"], split["probe"], split["gallery"]


@DATASET_REGISTRY.register()
class OuluNIRVIS(_FaceDataset):
    """Oulu-CASIA NIR-VIS: NIR probes against the VIS gallery (docs/datasets.md)."""

    dataset_name = "oulu_nirvis"
    folders = ("Oulu-CASIA-NIR-VIS", "oulu_nirvis")
    face_protocol = faces.OULU


@DATASET_REGISTRY.register()
class BUAAVisNir(_FaceDataset):
    """BUAA-VisNir: NIR probes against one VIS image per subject (docs/datasets.md)."""

    dataset_name = "buaa_visnir"
    folders = ("BUAA-VisNir", "buaa_visnir")
    face_protocol = faces.BUAA


DATASETS = ("SYSUMM01", "RegDB", "OuluNIRVIS", "BUAAVisNir")  # the torchreid adapters' class names


def build_dataset(cfg, name: str) -> _VIDataset:
    """A plugin dataset of DATASETS.NAMES / TESTS; fast-reid's own datasets carry no modality."""
    if name not in DATASETS:
        raise ValueError(f"dataset {name!r}: the TOPLight host trains and tests on the plugin's cross-modality "
                         f"datasets {list(DATASETS)} (fast-reid's own carry no modality)")  # fmt: skip
    return DATASET_REGISTRY.get(name)(root=dataset_root(cfg), **dataset_options(cfg))

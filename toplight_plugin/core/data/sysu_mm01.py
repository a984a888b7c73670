"""SYSU-MM01 from the original release layout, with the gallery sampling of the public protocol code.

Query: every cam3 / cam6 image of the test ids. Gallery per trial: one image (single-shot) or ten (multi-shot) per
test id and camera, cams 1, 2, 4, 5 (all-search) or 1, 2 (indoor-search). The picks of the Python protocol code that
published tables use are reproduced exactly: ``random.seed(trial)``, then for each test id in sorted order and each
gallery camera in the order listed, if that folder exists, ``random.choice`` over its sorted file list. With the
official kit's ``exp/rand_perm_cam.mat`` the kit's fixed permutations are used instead.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from toplight_plugin.core.data.images import is_image
from toplight_plugin.core.data.records import INFRARED, VISIBLE, Record, read_id_line, relabel, require
from toplight_plugin.core.data.resized_copy import check_copy

VISIBLE_CAMS, INFRARED_CAMS = (1, 2, 4, 5), (3, 6)
GALLERY_CAMS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
QUERY_CAMS = (3, 6)
MULTI_SHOT = 10
TREE = """  <root>/
    cam1/0001/0001.jpg ...   visible (cams 1, 2, 4, 5), one folder per 4-digit identity
    cam3/0001/0001.jpg ...   infrared (cams 3, 6)
    cam2/ cam4/ cam5/ cam6/
    exp/train_id.txt         one line of comma-separated ids, e.g. 1,2,4,...
    exp/val_id.txt
    exp/test_id.txt
    exp/rand_perm_cam.mat    optional: the official evaluation kit's permutations"""


def check_layout(root: str | Path) -> Path:
    root = Path(root)
    check_copy(root)
    needed = [f"cam{c}" for c in range(1, 7)] + [f"exp/{s}_id.txt" for s in ("train", "val", "test")]
    require(root, needed, "SYSU-MM01", TREE)
    overlap = sorted(set(_ids(root, "test")) & (set(_ids(root, "train")) | set(_ids(root, "val"))))
    if overlap:
        raise ValueError(
            f"{root / 'exp' / 'test_id.txt'}: {len(overlap)} test id(s) also in train_id.txt / val_id.txt, e.g. "
            f"{overlap[:5]}: the test identities must be unseen in training"
        )
    return root


def _ids(root: Path, split: str) -> list[int]:
    return read_id_line(root / "exp" / f"{split}_id.txt")


def _files(root: Path, cam: int, pid: int) -> list[str]:
    """Sorted image file names of one identity in one camera (``Thumbs.db``, ``.DS_Store`` and other non-images left
    out); [] when the camera never saw that identity."""
    folder = root / f"cam{cam}" / f"{pid:04d}"
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if p.is_file() and is_image(p))


def _record(root: Path, cam: int, pid: int, name: str) -> Record:
    modality = INFRARED if cam in INFRARED_CAMS else VISIBLE
    return Record(str((root / f"cam{cam}" / f"{pid:04d}" / name).resolve()), pid, cam, modality)


def train_records(root: str | Path) -> list[Record]:
    """All images of the train + val ids in all six cameras, labels 0..N-1 in sorted id order."""
    root = check_layout(root)
    ids = sorted(set(_ids(root, "train")) | set(_ids(root, "val")))
    records = [_record(root, cam, pid, name) for pid in ids for cam in range(1, 7) for name in _files(root, cam, pid)]
    return relabel(records)


def query_records(root: str | Path) -> list[Record]:
    """Every cam3 and cam6 image of the test ids, in the public code's order (same for both search modes)."""
    root = check_layout(root)
    return [
        _record(root, cam, pid, name)
        for pid in sorted(_ids(root, "test"))
        for cam in QUERY_CAMS
        for name in _files(root, cam, pid)
    ]


def query_files(root: str | Path) -> list[str]:
    """Absolute query paths in the order the public protocol code produces them."""
    return [r.path for r in query_records(root)]


def gallery_records(
    root: str | Path, mode: str = "all", trial: int = 0, shots: int = 1, rand_perm: str | Path | None = None
) -> list[Record]:
    """The gallery of one trial; ``rand_perm`` (path to ``rand_perm_cam.mat``) switches to the official picks."""
    root = check_layout(root)
    if mode not in GALLERY_CAMS:
        raise ValueError(f"SYSU-MM01 search mode must be one of {sorted(GALLERY_CAMS)}, got {mode!r}")
    if shots not in (1, MULTI_SHOT):
        raise ValueError(f"SYSU-MM01 shots must be 1 (single-shot) or {MULTI_SHOT} (multi-shot), got {shots!r}")
    if not isinstance(trial, int) or trial < 0:
        raise ValueError(f"SYSU-MM01 trial must be a non-negative integer, got {trial!r}")
    ids, cams = sorted(_ids(root, "test")), GALLERY_CAMS[mode]
    if rand_perm is not None:
        return _official_gallery(root, Path(rand_perm), ids, cams, trial, shots)
    rng = random.Random(trial)  # seeds the Mersenne Twister exactly as random.seed(trial) does
    records = []
    for pid in ids:
        for cam in cams:
            names = _files(root, cam, pid)
            if not names:
                continue
            picked = [rng.choice(names)] if shots == 1 else rng.sample(names, min(MULTI_SHOT, len(names)))
            records += [_record(root, cam, pid, name) for name in picked]
    return records


def sample_gallery(
    root: str | Path, mode: str = "all", trial: int = 0, shots: int = 1, rand_perm: str | Path | None = None
) -> list[str]:
    """Absolute gallery paths of one trial in the order the public protocol code produces them."""
    return [r.path for r in gallery_records(root, mode, trial, shots, rand_perm)]


def _official_gallery(root: Path, mat: Path, ids: list[int], cams: tuple, trial: int, shots: int) -> list[Record]:
    """The kit's picks: ``rand_perm_cam{cam}{id}(trial + 1, 1:shots)`` are 1-based image numbers (``0001.jpg``)."""
    from scipy.io import loadmat

    try:
        perm = loadmat(str(mat))["rand_perm_cam"]
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"{mat}: not a SYSU-MM01 rand_perm_cam.mat ({error})") from error
    records = []
    for cam in cams:  # the kit lists the gallery camera by camera
        per_id = np.asarray(perm[cam - 1][0]).reshape(-1)
        for pid in ids:
            if pid > len(per_id) or np.asarray(per_id[pid - 1]).size == 0:
                continue  # this camera never saw the identity
            table = np.atleast_2d(per_id[pid - 1])
            if trial >= table.shape[0]:
                raise ValueError(f"{mat}: cam{cam} id {pid} has {table.shape[0]} trials, trial {trial} requested")
            for number in table[trial, :shots].astype(int):
                name = f"{number:04d}.jpg"
                if not (root / f"cam{cam}" / f"{pid:04d}" / name).is_file():
                    raise ValueError(f"{mat}: cam{cam} id {pid} picks image {name}, which is missing under {root}")
                records.append(_record(root, cam, pid, name))
    return records


def gallery_candidates(root: str | Path) -> list[Record]:
    """Every image any trial of either search mode can pick: all gallery-camera images of the test ids."""
    root = check_layout(root)
    ids = sorted(_ids(root, "test"))
    return [
        _record(root, cam, pid, name) for pid in ids for cam in GALLERY_CAMS["all"] for name in _files(root, cam, pid)
    ]

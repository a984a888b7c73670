"""Small synthetic visible-infrared datasets in the real on-disk layouts (what the demo and tests use).

SYSU-MM01: ``cam1..cam6/<4-digit id>/<4-digit n>.jpg`` with ``exp/{train,val,test}_id.txt``
(one comma-separated line each); cams 1, 2, 4, 5 are visible, 3 and 6 infrared, and not
every identity is seen by every camera (each visible camera with probability 0.6, each infrared one with 0.6, at
least one of each). RegDB: ``Visible/<id>/*.bmp``, ``Thermal/<id>/*.bmp``
and ``idx/{train,test}_{visible,thermal}_{t}.txt`` for trials 1..10. The renderer
(synthetic_render.py) makes identity recoverable across modalities only from shared geometry.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from toplight_plugin.core.data.synthetic_render import Person, random_person, render_thermal, render_visible

VISIBLE_CAMS, INFRARED_CAMS = (1, 2, 4, 5), (3, 6)
# The SYSU-MM01-layout set the learning evidence is measured on (docs/learning.md): 280 training identities,
# 60 test identities, 128 x 64 images.
LEARNING_SET = dict(num_ids=340, splits=(240, 40, 60), images_per_cam=4, size=(128, 64))


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise ValueError(message)


MARKER = "SYNTHETIC.txt"


def _fresh(root: str | Path) -> Path:
    """An empty folder for a new set: a previous synthetic set there (it carries MARKER) is removed, so no file of
    another seed survives; any other non-empty folder is refused rather than mixed with."""
    root = Path(root)
    if root.exists() and any(root.iterdir()):
        if not (root / MARKER).is_file():
            raise ValueError(f"{root} is not empty and holds no {MARKER}: not overwriting what is not a synthetic set")
        shutil.rmtree(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / MARKER).write_text(f"written by {__name__}; replaced whenever a new set is made here\n")
    return root


def _camera_look(cam: int) -> tuple[np.ndarray, float]:
    """Each camera's own background tint (visible) or ambient temperature (infrared)."""
    rng = np.random.default_rng(1000 + cam)
    return rng.uniform(40, 220, 3), float(rng.uniform(25, 70))


def _render(person, cam: int, size, rng):
    tint, ambient = _camera_look(cam)
    return (
        render_thermal(person, size, rng, ambient) if cam in INFRARED_CAMS else render_visible(person, size, rng, tint)
    )


def make_sysu(
    root: str | Path,
    num_ids: int = 40,
    splits: tuple[int, int, int] = (24, 8, 8),
    images_per_cam: int = 4,
    size: tuple[int, int] = (128, 64),
    seed: int = 0,
    people: list[Person] | None = None,
) -> Path:
    """Write a SYSU-MM01-layout dataset; ``splits`` = (train, val, test) identity counts. ``people``: the
    ``num_ids`` identities to draw (distinct ones from synthetic_corpus.split_people), else random ones."""
    _check(sum(splits) == num_ids, f"splits {splits} must sum to num_ids={num_ids}")
    _check(people is None or len(people) == num_ids, f"people: {num_ids} identities expected")
    _check(min(splits) >= 1 and images_per_cam >= 1, "every split and images_per_cam must be at least 1")
    root = _fresh(root)
    rng = np.random.default_rng(seed)
    ids = np.arange(1, num_ids + 1)
    order = rng.permutation(ids)
    bounds = np.cumsum(splits)[:-1]
    (root / "exp").mkdir()
    for name, part in zip(("train", "val", "test"), np.split(order, bounds), strict=True):
        (root / "exp" / f"{name}_id.txt").write_text(",".join(str(i) for i in sorted(part)) + "\n")
    for pid in ids:
        person = random_person(rng) if people is None else people[pid - 1]
        cams = [c for c in VISIBLE_CAMS if rng.random() < 0.6] or [int(rng.choice(VISIBLE_CAMS))]
        cams += [c for c in INFRARED_CAMS if rng.random() < 0.6] or [int(rng.choice(INFRARED_CAMS))]
        for cam in sorted(cams):
            folder = root / f"cam{cam}" / f"{pid:04d}"
            folder.mkdir(parents=True, exist_ok=True)
            for n in range(1, images_per_cam + 1):
                _render(person, cam, size, rng).save(folder / f"{n:04d}.jpg", quality=90)
    return root


def make_regdb(
    root: str | Path,
    num_ids: int = 20,
    images_per_modality: int = 10,
    size: tuple[int, int] = (128, 64),
    seed: int = 0,
    trials: int = 10,
) -> Path:
    """Write a RegDB-layout dataset: each trial splits the identities half for training, half for testing."""
    _check(num_ids >= 2 and num_ids % 2 == 0, f"RegDB splits identities in halves: num_ids must be even, got {num_ids}")
    _check(images_per_modality >= 1 and trials >= 1, "images_per_modality and trials must be at least 1")
    root = _fresh(root)
    rng = np.random.default_rng(seed)
    files: dict[int, dict[str, list[str]]] = {}
    for pid in range(1, num_ids + 1):
        person = random_person(rng)
        files[pid] = {}
        for modality, cam, tag in (("Visible", 1, "v"), ("Thermal", 3, "t")):
            folder = root / modality / str(pid)
            folder.mkdir(parents=True, exist_ok=True)
            names = []
            for n in range(1, images_per_modality + 1):
                rel = f"{modality}/{pid}/{tag}_{pid:04d}_{n:02d}.bmp"
                _render(person, cam, size, rng).save(root / rel)
                names.append(rel)
            files[pid][modality] = names
    (root / "idx").mkdir(exist_ok=True)
    for t in range(1, trials + 1):
        order = np.random.default_rng(t).permutation(np.arange(1, num_ids + 1))
        for split, part in (("train", order[: num_ids // 2]), ("test", order[num_ids // 2 :])):
            for modality, tag in (("Visible", "visible"), ("Thermal", "thermal")):
                lines = [f"{rel} {label}" for label, pid in enumerate(sorted(part)) for rel in files[pid][modality]]
                (root / "idx" / f"{split}_{tag}_{t}.txt").write_text("\n".join(lines) + "\n")
    return root


def make_imagefolder(
    root: str | Path,
    num_classes: int = 10,
    images_per_class: int = 8,
    size: tuple[int, int] = (224, 224),
    seed: int = 0,
) -> Path:
    """Write a torchvision ImageFolder tree (``<class>/<n>.jpg``) of colour images, for pretraining."""
    _check(num_classes >= 1 and images_per_class >= 1, "num_classes and images_per_class must be at least 1")
    root = _fresh(root)
    rng = np.random.default_rng(seed)
    for c in range(num_classes):
        person = random_person(rng)
        folder = root / f"class_{c:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        for n in range(images_per_class):
            _render(person, VISIBLE_CAMS[n % len(VISIBLE_CAMS)], size, rng).save(folder / f"{n:03d}.jpg", quality=90)
    return root


def preview(num_ids: int = 8, per_modality: int = 4, size: tuple[int, int] = (128, 64), seed: int = 0) -> np.ndarray:
    """One row per identity: ``per_modality`` visible images (cameras 1, 2, 4, 5 in turn), then as many infrared
    ones (cameras 3, 6), as an RGB uint8 array; what the renderer draws, at a glance."""
    rng = np.random.default_rng(seed)
    rows = []
    for _ in range(num_ids):
        person = random_person(rng)
        cams = [VISIBLE_CAMS[n % 4] for n in range(per_modality)] + [INFRARED_CAMS[n % 2] for n in range(per_modality)]
        rows.append(np.concatenate([np.asarray(_render(person, cam, size, rng)) for cam in cams], axis=1))
    return np.concatenate(rows, axis=0)

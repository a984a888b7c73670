"""NIR-VIS face sets (Oulu-CASIA NIR-VIS, BUAA-VisNir): one folder per subject and modality, subject split files.

The releases come as per-subject image folders; the protocols used by face NIR-VIS papers fix which subjects train
and which test, and which VIS images form the gallery. Split files under ``<root>/protocols/`` (or given
explicitly) override the deterministic defaults described in docs/datasets.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from toplight_plugin.core.data.records import INFRARED, VISIBLE, LayoutError, Record, read_name_list, relabel, require
from toplight_plugin.core.data.resized_copy import check_copy

CAMERA = {VISIBLE: 1, INFRARED: 2}
FOLDER = {VISIBLE: "VIS", INFRARED: "NIR"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
TREE = """  <root>/
    VIS/<subject>/<image>.jpg|png|bmp    visible images, one folder per subject (e.g. VIS/P001/001.jpg)
    NIR/<subject>/<image>.jpg|png|bmp    near-infrared images, same subject names
    protocols/train_subjects.txt         optional: one subject per line (default: docs/datasets.md)
    protocols/test_subjects.txt          optional
    protocols/gallery.txt                optional: VIS images of the gallery, 'VIS/<subject>/<image>' per line"""


@dataclass(frozen=True)
class FaceProtocol:
    """Default split of a face set: the first ``train`` subjects (sorted) train, the next ``test`` subjects test;
    ``gallery_per_subject`` VIS images per test subject form the gallery (None = all), NIR images are the probes."""

    name: str
    train: int
    test: int
    gallery_per_subject: int | None


OULU = FaceProtocol("Oulu-CASIA NIR-VIS", train=20, test=20, gallery_per_subject=None)
BUAA = FaceProtocol("BUAA-VisNir", train=50, test=100, gallery_per_subject=1)


def _subjects(root: Path, modality: int) -> dict[str, list[str]]:
    folder = root / FOLDER[modality]
    return {
        d.name: sorted(p.name for p in d.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        for d in sorted(folder.iterdir())
        if d.is_dir()
    }


def _split(root: Path, protocol: FaceProtocol, both: list[str], name: str, override: Path | None) -> list[str]:
    listing = override or root / "protocols" / f"{name}_subjects.txt"
    if listing.exists():
        subjects = read_name_list(listing)
        unknown = [s for s in subjects if s not in both]
        if unknown:
            raise ValueError(f"{listing}: subject(s) without both VIS and NIR images: {', '.join(unknown[:10])}")
        return subjects
    need = protocol.train + protocol.test
    if len(both) < need:
        raise LayoutError(
            f"{protocol.name}: the default protocol needs {need} subjects with both VIS and NIR images under {root}, "
            f"found {len(both)}; give protocols/train_subjects.txt and protocols/test_subjects.txt.\n"
            f"Expected layout:\n{TREE}"
        )
    return both[: protocol.train] if name == "train" else both[protocol.train : need]


def load(
    root: str | Path,
    protocol: FaceProtocol,
    train_list: str | Path | None = None,
    test_list: str | Path | None = None,
    gallery_list: str | Path | None = None,
) -> dict[str, list[Record]]:
    """``{"train": ..., "probe": NIR of test subjects, "gallery": VIS of test subjects}``; train labels 0..N-1,
    test labels are the subjects' indices in sorted subject order."""
    root = Path(root)
    check_copy(root)
    require(root, ["VIS", "NIR"], protocol.name, TREE)
    images = {m: _subjects(root, m) for m in (VISIBLE, INFRARED)}
    both = sorted(set(images[VISIBLE]) & set(images[INFRARED]))
    train = _split(root, protocol, both, "train", Path(train_list) if train_list else None)
    test = _split(root, protocol, both, "test", Path(test_list) if test_list else None)
    overlap = sorted(set(train) & set(test))
    if overlap:
        raise ValueError(f"{protocol.name}: subjects in both the train and the test list: {', '.join(overlap[:10])}")
    index = {s: i for i, s in enumerate(sorted(both))}

    def record(subject: str, modality: int, name: str) -> Record:
        path = (root / FOLDER[modality] / subject / name).resolve()
        return Record(str(path), index[subject], CAMERA[modality], modality)

    out = {
        "train": relabel([record(s, m, n) for s in train for m in (VISIBLE, INFRARED) for n in images[m][s]]),
        "probe": [record(s, INFRARED, n) for s in test for n in images[INFRARED][s]],
    }
    listing = Path(gallery_list) if gallery_list else root / "protocols" / "gallery.txt"
    if listing.exists():
        out["gallery"] = _listed_gallery(root, listing, set(test), record)
    else:
        keep = protocol.gallery_per_subject
        out["gallery"] = [record(s, VISIBLE, n) for s in test for n in images[VISIBLE][s][:keep]]
    return out


def _listed_gallery(root: Path, listing: Path, test: set[str], record) -> list[Record]:
    gallery = []
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        rel = line.strip()
        if not rel:
            continue
        parts = Path(rel).parts
        if len(parts) != 3 or parts[0] != FOLDER[VISIBLE] or not (root / rel).is_file():
            raise ValueError(f"{listing}:{number}: expected an existing 'VIS/<subject>/<image>', found {rel!r}")
        if parts[1] not in test:
            raise ValueError(f"{listing}:{number}: subject {parts[1]!r} is not a test subject")
        gallery.append(record(parts[1], VISIBLE, parts[2]))
    return gallery

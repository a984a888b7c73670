"""RegDB from its ``idx/`` split files: one visible and one thermal list per split and trial (t = 1..10)."""

from __future__ import annotations

from pathlib import Path

from toplight_plugin.core.data.records import INFRARED, VISIBLE, Record, read_label_file, require
from toplight_plugin.core.data.resized_copy import check_copy

TRIALS = range(1, 11)
CAMERA = {"visible": 1, "thermal": 2}  # RegDB has one camera per modality; these numbers only tell them apart
MODALITY = {"visible": VISIBLE, "thermal": INFRARED}
TREE = """  <root>/
    Visible/<id>/<image>.bmp
    Thermal/<id>/<image>.bmp
    idx/train_visible_<t>.txt   lines 'Visible/3/female_back_v_00001.bmp 2' (relative path, label), t = 1..10
    idx/train_thermal_<t>.txt
    idx/test_visible_<t>.txt
    idx/test_thermal_<t>.txt"""


def split_file(root: Path, split: str, modality: str, trial: int) -> Path:
    return root / "idx" / f"{split}_{modality}_{trial}.txt"


def records(root: str | Path, split: str, modality: str, trial: int = 1) -> list[Record]:
    """The images of one list file, with the labels it gives (already 0..N-1 in the released files)."""
    root = Path(root)
    check_copy(root)
    if trial not in TRIALS:
        raise ValueError(f"RegDB trial must be in 1..10, got {trial!r}")
    if split not in ("train", "test") or modality not in CAMERA:
        raise ValueError(f"RegDB split must be train/test and modality visible/thermal, got {split!r}, {modality!r}")
    needed = ["Visible", "Thermal"] + [
        str(split_file(Path(), s, m, trial)) for s in ("train", "test") for m in ("visible", "thermal")
    ]
    require(root, needed, "RegDB", TREE)
    listing = split_file(root, split, modality, trial)
    entries = read_label_file(listing)
    missing = [rel for rel, _ in entries if not (root / rel).is_file()]
    if missing:
        shown = "\n".join(f"  - {root / rel}" for rel in missing[:10])
        more = f"\n  ... and {len(missing) - 10} more" if len(missing) > 10 else ""
        raise FileNotFoundError(f"{listing}: {len(missing)} listed image(s) do not exist:\n{shown}{more}")
    return [Record(str((root / rel).resolve()), label, CAMERA[modality], MODALITY[modality]) for rel, label in entries]


def train_records(root: str | Path, trial: int = 1) -> list[Record]:
    """Visible then thermal training images of one trial; both lists share labels 0..N-1."""
    return records(root, "train", "visible", trial) + records(root, "train", "thermal", trial)


def eval_records(root: str | Path, trial: int = 1, direction: str = "v2i") -> tuple[list[Record], list[Record]]:
    """(query, gallery) of one trial: ``v2i`` = visible query, thermal gallery; ``i2v`` the reverse."""
    if direction not in ("v2i", "i2v"):
        raise ValueError(f"RegDB direction must be 'v2i' (visible to infrared) or 'i2v', got {direction!r}")
    visible, thermal = records(root, "test", "visible", trial), records(root, "test", "thermal", trial)
    for modality in ("visible", "thermal"):  # the list files alone: their images were checked by records()
        listed = split_file(Path(root), "test", modality, trial)
        trained = {rel for rel, _ in read_label_file(split_file(Path(root), "train", modality, trial))}
        both = [rel for rel, _ in read_label_file(listed) if rel in trained]
        if both:
            raise ValueError(
                f"{listed}: {len(both)} image(s) also in the training list of trial {trial}, e.g. {both[0]}: "
                "test images must be unseen in training"
            )
    return (visible, thermal) if direction == "v2i" else (thermal, visible)

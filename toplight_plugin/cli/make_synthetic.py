"""Write synthetic visible-infrared data in the SYSU-MM01 and RegDB layouts, and an ImageFolder tree, under the
folder names the dataset adapters look for (``<root>/SYSU-MM01``, ``<root>/RegDB``, ``<root>/imagefolder``). The
SYSU-MM01 defaults are the learning-evidence set of docs/learning.md."""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from toplight_plugin.core.data.synthetic import LEARNING_SET, make_imagefolder, make_regdb, make_sysu, preview

FOLDERS = {"sysu": "SYSU-MM01", "regdb": "RegDB", "imagefolder": "imagefolder"}
MIN_SIZE = (18, 12)  # the renderer's background clutter spans up to a third of the height, half the width


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--dataset", choices=(*FOLDERS, "all", "none"), default="all", help="none: --preview only")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sysu-ids", type=int, nargs=3, default=LEARNING_SET["splits"],
                        metavar=("TRAIN", "VAL", "TEST"))  # fmt: skip
    parser.add_argument("--images-per-cam", type=int, default=LEARNING_SET["images_per_cam"])
    parser.add_argument("--size", type=int, nargs=2, default=LEARNING_SET["size"], metavar=("HEIGHT", "WIDTH"),
                        help="image size of every set written")  # fmt: skip
    parser.add_argument("--regdb-ids", type=int, default=20)
    parser.add_argument("--classes", type=int, default=10, help="ImageFolder classes")
    parser.add_argument("--preview", type=Path, help="also write a PNG: 8 identities x (4 visible + 4 infrared)")
    args = parser.parse_args(argv)
    size = tuple(args.size)
    if size[0] < MIN_SIZE[0] or size[1] < MIN_SIZE[1]:
        raise ValueError(f"--size {size[0]} {size[1]}: the renderer needs images of at least {MIN_SIZE[0]} x "
                         f"{MIN_SIZE[1]} (height x width)")  # fmt: skip
    makers = {
        "sysu": lambda root: make_sysu(root, num_ids=sum(args.sysu_ids), splits=tuple(args.sysu_ids),
                                       images_per_cam=args.images_per_cam, size=size, seed=args.seed),
        "regdb": lambda root: make_regdb(root, num_ids=args.regdb_ids, size=size, seed=args.seed),
        "imagefolder": lambda root: make_imagefolder(root, num_classes=args.classes, size=size, seed=args.seed),
    }  # fmt: skip
    chosen = {"all": list(makers), "none": []}.get(args.dataset, [args.dataset])
    written = {}
    for name in chosen:
        root = makers[name](args.root / FOLDERS[name])
        count = sum(1 for p in root.rglob("*") if p.suffix in (".jpg", ".bmp"))
        print(f"{name}: {count} images under {root}")
        written[name] = root
    if args.preview:
        args.preview.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(preview(size=size, seed=args.seed)).save(args.preview)
        print(f"preview: {args.preview}")
    return written


if __name__ == "__main__":
    main()

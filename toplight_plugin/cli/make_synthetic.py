"""Write synthetic visible-infrared data in the SYSU-MM01 and RegDB layouts, and an ImageFolder tree."""

from __future__ import annotations

import argparse
from pathlib import Path

from toplight_plugin.core.synthetic import make_imagefolder, make_regdb, make_sysu


def main(argv: list[str] | None = None) -> dict[str, Path]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", type=Path, default=Path("data/synthetic"))
    parser.add_argument("--dataset", choices=("sysu", "regdb", "imagefolder", "all"), default="all")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sysu-ids", type=int, nargs=3, default=(24, 8, 8), metavar=("TRAIN", "VAL", "TEST"))
    parser.add_argument("--regdb-ids", type=int, default=20)
    parser.add_argument("--classes", type=int, default=10, help="ImageFolder classes")
    args = parser.parse_args(argv)
    makers = {
        "sysu": lambda root: make_sysu(root, num_ids=sum(args.sysu_ids), splits=tuple(args.sysu_ids), seed=args.seed),
        "regdb": lambda root: make_regdb(root, num_ids=args.regdb_ids, seed=args.seed),
        "imagefolder": lambda root: make_imagefolder(root, num_classes=args.classes, seed=args.seed),
    }
    chosen = list(makers) if args.dataset == "all" else [args.dataset]
    written = {}
    for name in chosen:
        root = makers[name](args.root / name)
        count = sum(1 for p in root.rglob("*") if p.suffix in (".jpg", ".bmp"))
        print(f"{name}: {count} images under {root}")
        written[name] = root
    return written


if __name__ == "__main__":
    main()

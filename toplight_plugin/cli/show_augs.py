"""Fig. 3 of the paper as a picture: source images and their two task-oriented views (colour path, texture path).

toplight-show-augs --images a.jpg b.jpg ... --output augs.png [--seed 0]
toplight-show-augs --folder data/imagenet-mini/train --count 6 --output augs.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from toplight_plugin.cli.figures import plt, save_png
from toplight_plugin.core.data.images import list_images, read_image
from toplight_plugin.core.data.top_augment import TaskOrientedAugment


def show_augs(paths: list[Path], output: Path, size: tuple[int, int] = (224, 224), seed: int = 0) -> Path:
    """One row per image: the source, then path 1 (colour) and path 2 (texture) views at ``size`` (height, width)."""
    torch.manual_seed(seed)
    augment = TaskOrientedAugment(*size, normalise=False)
    figure, axes = plt.subplots(len(paths), 3, figsize=(6, 2 * len(paths)), squeeze=False)
    for row, path in zip(axes, paths, strict=True):
        image = np.asarray(read_image(str(path)))
        for ax, picture, title in zip(row, (image, *augment(image)), ("source", "path 1: colour", "path 2: texture"),
                                      strict=True):  # fmt: skip
            ax.imshow(picture)
            ax.set_title(title, fontsize=8)
            ax.axis("off")
    return save_png(figure, output)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=Path, nargs="*", default=[])
    parser.add_argument("--folder", type=Path, default=None, help="take the first --count images under it")
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--size", type=int, nargs="+", default=[224], metavar="PIXELS",
                        help="the views' size: one number (square) or height and width")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=Path("output/augs.png"))
    args = parser.parse_args(argv)
    paths = list(args.images)
    if args.folder is not None:
        paths += list_images(args.folder)[: args.count]
    if not paths:
        raise ValueError("no images: give --images or --folder")
    if len(args.size) > 2:
        parser.error(f"--size takes one or two numbers, got {len(args.size)}")
    output = show_augs(paths, args.output, (args.size[0], args.size[-1]), args.seed)
    print(f"written to {output}")
    return output


if __name__ == "__main__":
    main()

"""Grad-CAM maps of a model for given images, before and after the FDR module (Fig. 5 of the paper), as a PNG.

    toplight-gradcam --images a.jpg b.jpg --modality infrared --config-file configs/sysu/mbv3l_top_fdr.yaml \
        --weights output/sysu/mbv3l_top_fdr/last.pth --output output/gradcam.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from toplight_plugin.cli.figures import plt, save_png
from toplight_plugin.cli.model_args import add_model_arguments, model_from_args
from toplight_plugin.cli.overrides import parse
from toplight_plugin.cli.search import MODALITIES
from toplight_plugin.core.analysis.gradcam import grad_cam
from toplight_plugin.core.data.images import list_images
from toplight_plugin.core.deploy.embedder import load_batch
from toplight_plugin.core.deploy.export import normalized


def plot_maps(images, maps: dict[str, torch.Tensor], output: Path, titles: list[str]) -> Path:
    """One row per image: the image, then each map laid over it."""
    columns = 1 + len(maps)
    figure, axes = plt.subplots(len(images), columns, figsize=(1.8 * columns, 3.2 * len(images)), squeeze=False)
    for i, row in enumerate(axes):
        picture = images[i].transpose(1, 2, 0)
        row[0].imshow(picture)
        row[0].set_title(titles[i], fontsize=8)
        for ax, (name, cams) in zip(row[1:], maps.items(), strict=True):
            ax.imshow(picture)
            ax.imshow(cams[i].numpy(), cmap="jet", alpha=0.5, vmin=0, vmax=1)
            ax.set_title(name, fontsize=8)
        for ax in row:
            ax.axis("off")
    return save_png(figure, output)


def main(argv: list[str] | None = None) -> dict[str, torch.Tensor]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", required=True, nargs="+", help="image files or folders")
    parser.add_argument("--modality", choices=sorted(MODALITIES), default="visible", help="the stem they go through")
    parser.add_argument("--output", type=Path, default=Path("output/gradcam.png"))
    add_model_arguments(parser)
    args = parse(parser, argv)
    model, cfg = model_from_args(args)
    files = [p for source in args.images for p in list_images(source)]
    images = load_batch(files, cfg.data.height, cfg.data.width)
    inputs = normalized(torch.from_numpy(images), cfg.data.norm_mean, cfg.data.norm_std)
    maps = grad_cam(model, inputs, MODALITIES[args.modality])
    plot_maps(images, maps, args.output, [f"{p.parent.name}/{p.name}" for p in files])
    print(f"Grad-CAM of {len(files)} images ({', '.join(maps)}) written to {args.output}")
    return maps


if __name__ == "__main__":
    main()

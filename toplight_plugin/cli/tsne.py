"""Fig. 4 of the paper as a picture: t-SNE of the features of a few SYSU-MM01 test identities, visible (dots) and
infrared (crosses), one colour per identity. Works with a pretraining checkpoint (two pre-embedding groups: each
modality through its own path) and with a soup or VI checkpoint.

    toplight-tsne --weights output/sysu/mbv3l_top_fdr/last.pth --sysu data/SYSU-MM01 --ids 8 --output tsne.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from toplight_plugin.cli.figures import plt, save_png
from toplight_plugin.core.analysis.tsne import tsne
from toplight_plugin.core.data import sysu_mm01
from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.transforms import test_transform
from toplight_plugin.core.models.cards import card_of, read_weights
from toplight_plugin.core.models.registry import build_from_weights


def load_model(weights: str, name: str = "", **size: int) -> torch.nn.Module:
    """The network a checkpoint holds, as its card names it (two groups for pretraining, the FDR where it has one);
    ``name`` for a checkpoint without a card, ``height`` / ``width`` to run it at another size."""
    return build_from_weights(read_weights(weights), name, **size).eval()


def sysu_records(root: str | Path, ids: int, per_modality: int):
    """Up to ``per_modality`` visible and infrared images of each of the first ``ids`` test identities."""
    chosen = sorted({r.pid for r in sysu_mm01.query_records(root)})[:ids]
    picked = []
    for records in (sysu_mm01.gallery_candidates(root), sysu_mm01.query_records(root)):
        for pid in chosen:
            picked += [r for r in records if r.pid == pid][:per_modality]
    return picked


@torch.no_grad()
def plot_tsne(model, records, output: Path, height: int, width: int, title: str = "") -> Path:
    transform = test_transform(height, width)
    feats = []
    for r in records:
        image = transform(image=np.asarray(read_image(r.path)))["image"][None]
        feats.append(F.normalize(model(image, r.modality), dim=1))
    points = tsne(torch.cat(feats).numpy(), perplexity=min(30.0, len(records) / 4))
    pids = sorted({r.pid for r in records})
    colours = plt.get_cmap("tab20")(np.linspace(0, 1, max(len(pids), 2)))
    figure, ax = plt.subplots(figsize=(5, 5))
    for (x, y), r in zip(points, records, strict=True):
        ax.scatter(x, y, color=colours[pids.index(r.pid)], marker="x" if r.modality else "o", s=22)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or "t-SNE: o visible, x infrared; colour = identity", fontsize=9)
    return save_png(figure, output)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="", help="a name in toplight_plugin.MODELS, for a checkpoint without a "
                        "model card (which names it)")  # fmt: skip
    parser.add_argument("--weights", required=True, help="pretraining, soup or VI checkpoint")
    parser.add_argument("--sysu", required=True, help="SYSU-MM01 root (its test identities are plotted)")
    parser.add_argument("--ids", type=int, default=8)
    parser.add_argument("--per-modality", type=int, default=10, help="images per identity and modality")
    parser.add_argument("--height", type=int, help="input height (default: the checkpoint card's)")
    parser.add_argument("--width", type=int, help="input width (default: the checkpoint card's)")
    parser.add_argument("--output", type=Path, default=Path("output/tsne.png"))
    args = parser.parse_args(argv)
    size = {k: v for k, v in (("height", args.height), ("width", args.width)) if v is not None}
    model = load_model(args.weights, args.model, **size)
    records = sysu_records(args.sysu, args.ids, args.per_modality)
    output = plot_tsne(model, records, args.output, *card_of(model).input_size, title=Path(args.weights).name)
    print(f"written to {output}")
    return output


if __name__ == "__main__":
    main()

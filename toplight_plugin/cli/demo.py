"""Learning evidence on a CPU, from random weights: a synthetic SYSU-MM01-layout set (280 training and 60 test
identities at 128 x 64, identity only in the geometry both modalities share), chance and two hand-made matchers
measured through the published protocol, a TOPLight model trained with the from-scratch recipe
(configs/synthetic/mbv3s_baseline.yaml) through torchreid's engine, its figures beside theirs, and a picture of
ranked search results of the trained model. ``--pretrain-epochs N`` starts VI training from a TOP soup instead.
Every step and figure is explained in docs/learning.md. A demo run replaces the previous one's checkpoints
(``--overwrite``).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from toplight_plugin.cli import search as search_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.cli.overrides import add_overrides, parse
from toplight_plugin.cli.pretrain_top import pretrain
from toplight_plugin.core.analysis.matchers import CHANCE, matcher_extractor
from toplight_plugin.core.data import sysu_mm01
from toplight_plugin.core.data.synthetic import LEARNING_SET, make_imagefolder, make_sysu
from toplight_plugin.core.evaluation.protocols import ProtocolOptions, evaluate_dataset
from toplight_plugin.core.training import run_folder
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.pretrain import get_default_config
from toplight_plugin.hosts.torchreid.build import build_datamanager

RECIPE = Path("configs/synthetic/mbv3s_baseline.yaml")
MATCHER_ROWS = {CHANCE: "chance (random features)", "pixels": "grayscale pixel matcher",
                "histogram": "colour-histogram matcher"}  # fmt: skip


def top_soup(data: Path, save_dir: Path, epochs: int, cfg, classes: int = 64) -> Path:
    """Steps 1-2 on a synthetic ImageFolder of people at the recipe's input size: the soup VI training starts from.
    Its people come from their own random stream (seed + 1000), not the VI set's; lr 0.01 diverged at epoch 6 of 20
    (docs/learning.md), 3e-3 did not."""
    size = (cfg.data.height, cfg.data.width)
    root = make_imagefolder(data / "imagefolder", num_classes=classes, images_per_class=8, size=size,
                            seed=cfg.train.seed + 1000)  # fmt: skip
    top = load_config(None, [
        "model.name", cfg.model.name, "model.pretrained", "False", "data.root", str(root),
        "data.height", str(size[0]), "data.width", str(size[1]), "data.workers", str(cfg.data.workers),
        "data.save_dir", str(save_dir), "train.batch_size", "32", "train.max_epoch", str(epochs), "train.lr", "0.003",
        "train.seed", str(cfg.train.seed),
    ], defaults=get_default_config)  # fmt: skip
    run_folder.clear(save_dir)  # a demo replaces the previous demo's pretraining
    return pretrain(top)


def matcher_results(cfg) -> dict[str, dict]:
    """Chance and the hand-made matchers through the same protocol code as the network."""
    datamanager = build_datamanager(cfg, use_gpu=False)
    loaders = datamanager.test_loader[cfg.data.targets[0]]
    options = ProtocolOptions(tuple(cfg.toplight.sysu_mode), cfg.toplight.trials)
    return {
        label: evaluate_dataset(loaders["query"].dataset, loaders["query"], loaders["gallery"],
                                matcher_extractor(name, cfg.data.norm_mean, cfg.data.norm_std),
                                datamanager.transform_te, options, cfg.test.batch_size)  # fmt: skip
        for name, label in MATCHER_ROWS.items()
    }


def comparison_table(rows: dict[str, dict]) -> str:
    """Markdown: all-search and indoor-search rank-1 / mAP (%, mean over the gallery trials) per method."""
    lines = ["| method | all-search r=1 | all-search mAP | indoor r=1 | indoor mAP |", "|---|---|---|---|---|"]
    for label, results in rows.items():
        cells = [f"{results[p][m]:.1f}" for p in ("sysu_all", "sysu_indoor") for m in ("rank1", "mAP")]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def search_picture(root: Path, run: Path, output: Path, recipe: Path, options: list[str], queries: int = 4) -> Path:
    """Ranked results of the first infrared image of the first test identities against every visible image of the
    test identities in cameras 1-2 (the indoor gallery before single-shot sampling), by the checkpoint of ``run``;
    the search tool's PNG and JSON go to ``run/search``, the PNG is copied to ``output``."""
    folders = sorted({str(Path(r.path).parent) for r in sysu_mm01.gallery_candidates(root) if r.camid in (1, 2)})
    seen = {int(Path(folder).name) for folder in folders}
    picked: dict[int, str] = {}
    for record in sysu_mm01.query_records(root):
        if record.pid in seen and len(picked) < queries:
            picked.setdefault(record.pid, record.path)
    search_tool.main([
        "--gallery", *folders, "--query", *picked.values(), "--top-k", "6", "--output", str(run / "search"),
        "--config-file", str(recipe), "--weights", str(run / "last.pth"), *options,
    ])  # fmt: skip
    output.parent.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copyfile(run / "search" / "results.png", output))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/synthetic"), help="where the synthetic data goes")
    parser.add_argument("--output", type=Path, default=Path("output/demo"), help="checkpoints, logs, results.json")
    parser.add_argument("--config-file", type=Path, default=RECIPE, help="the training recipe")
    parser.add_argument("--seed", type=int, default=1, help="data, initialisation and sampling")
    parser.add_argument("--ids", type=int, nargs=3, default=LEARNING_SET["splits"], metavar=("TRAIN", "VAL", "TEST"),
                        help="identities of the synthetic set")  # fmt: skip
    parser.add_argument("--pretrain-epochs", type=int, default=0, help="TOP epochs before VI training (0: none)")
    parser.add_argument("--picture", type=Path, default=None, help="search picture (default: <output>/search.png)")
    add_overrides(parser, "train.max_epoch 10 (of the recipe)")
    args = parse(parser, argv)
    torch.set_flush_denormal(True)
    layout = {**LEARNING_SET, "num_ids": sum(args.ids), "splits": tuple(args.ids)}
    root = make_sysu(args.data / "SYSU-MM01", seed=args.seed, **layout)
    print(f"synthetic SYSU-MM01 layout written to {root}")
    options = ["data.root", str(args.data), "data.save_dir", str(args.output), "train.seed", str(args.seed),
               *args.opts]  # fmt: skip
    cfg = load_config(args.config_file, options)
    rows = matcher_results(cfg)
    if args.pretrain_epochs:
        soup = top_soup(args.data, args.output / "pretrain", args.pretrain_epochs, cfg)
        options += ["model.load_weights", str(soup)]
    for stale in args.output.glob("events.out.tfevents.*"):  # a previous demo's curves would mix with this one's
        stale.unlink()
    engine = train_tool.main(["--config-file", str(args.config_file), "--overwrite", *options])
    rows[f"{cfg.model.name}, trained ({args.config_file.name})"] = engine.last_results
    print("\n" + comparison_table(rows))
    picture = search_picture(root, args.output, args.picture or args.output / "search.png", args.config_file, options)
    print(f"search picture: {picture}")
    return rows


if __name__ == "__main__":
    main()

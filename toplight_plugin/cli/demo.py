"""The whole job on synthetic data, on a CPU: task-oriented pretraining on a synthetic ImageFolder and its uniform
soup (steps 1-2), VI training of a TOPLight model from the soup through torchreid's engine (step 3), the published
test protocol, and the tables. ``--pretrain-epochs 0`` starts VI training from random weights instead.

The network starts from random weights (no download) at 64 x 32, so the figures show that the pipeline works end to
end, not the paper's accuracy; on data this small they also vary from seed to seed (docs/pretraining.md).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from toplight_plugin.cli import test as test_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.cli.pretrain_top import pretrain
from toplight_plugin.core.flops import flops_table, to_markdown
from toplight_plugin.core.pretrain import get_default_config
from toplight_plugin.core.synthetic import make_imagefolder, make_sysu
from toplight_plugin.hosts.torchreid.config import load_config

MODEL = "toplight_mobilenetv3_small"


def top_soup(data: Path, save_dir: Path, epochs: int, workers: int, seed: int) -> Path:
    """Steps 1-2 on a small synthetic ImageFolder: the soup the VI training starts from."""
    root = make_imagefolder(data / "imagefolder", num_classes=10, images_per_class=8, size=(64, 64), seed=seed)
    cfg = load_config(None, [
        "model.name", MODEL, "model.pretrained", "False", "data.root", str(root), "data.height", "64",
        "data.width", "64", "data.workers", str(workers), "data.save_dir", str(save_dir), "train.batch_size", "16",
        "train.max_epoch", str(epochs), "train.lr", "0.01", "train.seed", str(seed),
    ], defaults=get_default_config)  # fmt: skip
    return pretrain(cfg)


def overrides(data: Path, save_dir: Path, epochs: int, workers: int) -> list[str]:
    return [
        "model.name", MODEL, "model.pretrained", "False",
        "data.root", str(data), "data.height", "64", "data.width", "32", "data.workers", str(workers),
        "data.save_dir", str(save_dir), "train.batch_size", "48", "sampler.num_instances", "4",
        "train.max_epoch", str(epochs), "train.lr", "0.003", "train.stepsize", f"[{max(1, epochs * 3 // 4)}]",
        "toplight.warmup_epochs", "2", "toplight.augment", "basic", "test.eval_freq", "-1",
        "train.print_freq", "100000",
    ]  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/synthetic"), help="where the synthetic data goes")
    parser.add_argument("--output", type=Path, default=Path("output/demo"), help="checkpoints, logs, results.json")
    parser.add_argument("--ids", type=int, nargs=3, default=(28, 4, 8), help="train, val, test identities")
    parser.add_argument("--epochs", type=int, default=40, help="VI training epochs")
    parser.add_argument("--pretrain-epochs", type=int, default=3, help="TOP epochs before VI training (0: none)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOPs table")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    root = make_sysu(args.data / "SYSU-MM01", num_ids=sum(args.ids), splits=tuple(args.ids), images_per_cam=6,
                     seed=args.seed)  # fmt: skip
    print(f"synthetic SYSU-MM01 layout written to {root}")
    options = overrides(args.data, args.output, args.epochs, args.workers)
    start = []
    if args.pretrain_epochs:
        soup = top_soup(args.data, args.output / "pretrain", args.pretrain_epochs, args.workers, args.seed)
        start = ["model.load_weights", str(soup)]
    train_tool.main([*options, "train.seed", str(args.seed), *start])
    results = test_tool.main(["--weights", str(args.output / "last.pth"), *options])
    chance = 100 / args.ids[2]
    for protocol, summary in results.items():
        print(f"{protocol}: rank-1 {summary['rank1']:.1f} % (chance about {chance:.1f} %), mAP {summary['mAP']:.1f} %")
    if not args.no_flops:
        print("\n" + to_markdown(flops_table()))
    return results


if __name__ == "__main__":
    main()

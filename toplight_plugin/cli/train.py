"""Train a TOPLight model on a visible-infrared dataset through torchreid's engine.

    toplight-train --config-file configs/sysu/mbv3l_top_fdr.yaml [--resume] [KEY VALUE ...]

``--resume`` continues from ``<data.save_dir>/last.pth`` when it exists (a fresh start otherwise).
Several GPUs (or CPU processes, gloo): ``torchrun --nproc_per_node N -m toplight_plugin.cli.train ...``;
``train.batch_size`` is per process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import torch

from toplight_plugin.core import checkpoint
from toplight_plugin.hosts.torchreid import distributed
from toplight_plugin.hosts.torchreid.build import build_datamanager, build_engine, build_model
from toplight_plugin.hosts.torchreid.config import load_config


def parse(argv, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", help="yacs file; defaults are the paper's recipe")
    parser.add_argument("--resume", action="store_true", help="continue from <save_dir>/last.pth")
    parser.add_argument("--weights", default="", help="checkpoint to evaluate (test) or start from (train)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides, e.g. train.max_epoch 10")
    return parser.parse_args(argv)


def rank0_output():
    """Other ranks stay silent: torchreid prints its progress from every process."""
    if distributed.is_main():
        return contextlib.nullcontext()
    return contextlib.redirect_stdout(open(os.devnull, "w"))


def main(argv: list[str] | None = None):
    args = parse(argv, __doc__)
    cfg = load_config(args.config_file, args.opts)
    distributed.init_from_env()  # before the data manager: the sampler reads its rank and world size
    try:
        with rank0_output():
            return train(cfg, args)
    finally:
        distributed.shutdown()


def train(cfg, args):
    torch.manual_seed(cfg.train.seed)  # the sampler's seed inside torchreid's data manager
    use_gpu = torch.cuda.is_available()
    save_dir = Path(cfg.data.save_dir)
    if distributed.is_main():
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / "config.yaml").write_text(cfg.dump())
    datamanager = build_datamanager(cfg, use_gpu)
    model = build_model(cfg, datamanager.num_train_pids, args.weights)
    engine = build_engine(cfg, datamanager, model, use_gpu)
    start = 0
    last = save_dir / checkpoint.LAST
    if args.resume and last.exists():
        start = engine.resume(last)
        print(f"resumed from {last} at epoch {start}")
    elif args.resume:
        print(f"no checkpoint at {last}: starting from epoch 0")
    engine.run(
        save_dir=str(save_dir),
        max_epoch=cfg.train.max_epoch,
        start_epoch=start,
        print_freq=cfg.train.print_freq,
        start_eval=cfg.test.start_eval,
        eval_freq=cfg.test.eval_freq,
    )
    return engine


if __name__ == "__main__":
    main()

"""Train a TOPLight model on a visible-infrared dataset through torchreid's engine.

    toplight-train --config-file configs/sysu/mbv3l_top_fdr.yaml [--resume] [KEY VALUE ...]

``--resume`` (= ``model.resume auto``) continues from the newest checkpoint in ``data.save_dir`` when there is one
(a fresh start otherwise); ``model.resume PATH`` from that file. ``test.evaluate True`` only evaluates the weights
(``--weights`` or ``model.load_weights``), as torchreid's ``scripts/main.py`` does. Everything printed also goes to
``<data.save_dir>/train.log-<time>`` (``test.log-<time>`` when only evaluating), torchreid's text log.
Several GPUs (or CPU processes, gloo): ``torchrun --nproc_per_node N -m toplight_plugin.cli.train ...``;
``train.batch_size`` is per process.
"""

from __future__ import annotations

import argparse
import contextlib
import os
from pathlib import Path

import torch

from toplight_plugin.cli import overrides
from toplight_plugin.cli.textlog import text_log
from toplight_plugin.core import checkpoint
from toplight_plugin.hosts.torchreid import distributed
from toplight_plugin.hosts.torchreid.build import build_datamanager, build_engine, build_model
from toplight_plugin.hosts.torchreid.config import load_config


def parse(argv, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", help="yacs file; defaults are the paper's recipe")
    parser.add_argument("--resume", action="store_true", help="continue from <save_dir>/last.pth")
    parser.add_argument("--weights", default="", help="checkpoint to evaluate (test) or start from (train)")
    overrides.add_overrides(parser, "train.max_epoch 10")
    return overrides.parse(parser, argv)


def output(cfg):
    """Rank 0 prints and keeps the text log; other ranks stay silent (torchreid prints from every process)."""
    if distributed.is_main():
        return text_log(cfg.data.save_dir, "test" if cfg.test.evaluate else "train")
    return contextlib.redirect_stdout(open(os.devnull, "w"))


def main(argv: list[str] | None = None):
    args = parse(argv, __doc__)
    opts = list(args.opts) + (["model.resume", "auto"] if args.resume else [])
    cfg = load_config(args.config_file, opts)
    distributed.init_from_env()  # before the data manager: the sampler reads its rank and world size
    try:
        with output(cfg):
            return run(cfg, args.weights)
    finally:
        distributed.shutdown()


def resume_from(cfg) -> Path | None:
    """The checkpoint ``model.resume`` names: a path, "auto" (the newest in data.save_dir, if any) or nothing."""
    if cfg.model.resume == "auto":
        return checkpoint.newest(cfg.data.save_dir)
    if cfg.model.resume and not Path(cfg.model.resume).is_file():
        raise FileNotFoundError(f"model.resume {cfg.model.resume}: no such checkpoint")
    return Path(cfg.model.resume) if cfg.model.resume else None


def run(cfg, weights: str = ""):
    """Train (or, with test.evaluate, only evaluate) as the config says; returns the engine."""
    weights = weights or cfg.model.load_weights
    if cfg.test.evaluate and not weights:
        raise ValueError("test.evaluate True needs the weights to evaluate: --weights or model.load_weights")
    torch.manual_seed(cfg.train.seed)  # the sampler's seed inside torchreid's data manager
    use_gpu = torch.cuda.is_available()
    save_dir = Path(cfg.data.save_dir)
    if distributed.is_main():
        save_dir.mkdir(parents=True, exist_ok=True)
        (save_dir / "config.yaml").write_text(cfg.dump())
    resume = None if cfg.test.evaluate else resume_from(cfg)
    for stale in checkpoint.remove_stale(save_dir) if distributed.is_main() else []:
        print(f"removed {stale}, left by a save that was killed midway")
    datamanager = build_datamanager(cfg, use_gpu)
    model = build_model(cfg, datamanager.num_train_pids, weights, evaluate=cfg.test.evaluate)
    engine = build_engine(cfg, datamanager, model, use_gpu)
    start = 0
    if resume is not None:
        start = engine.resume(resume)
        print(f"resumed from {resume} at epoch {start}")
    elif cfg.model.resume == "auto":
        print(f"no checkpoint in {save_dir}: starting from epoch 0")
    engine.run(
        save_dir=str(save_dir),
        max_epoch=cfg.train.max_epoch,
        start_epoch=start,
        print_freq=cfg.train.print_freq,
        start_eval=cfg.test.start_eval,
        eval_freq=cfg.test.eval_freq,
        test_only=cfg.test.evaluate,
        ranks=list(cfg.test.ranks),
        visrank=cfg.test.visrank,
        visrank_topk=cfg.test.visrank_topk,
    )
    return engine


if __name__ == "__main__":
    main()

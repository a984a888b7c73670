"""Train a TOPLight model on a visible-infrared dataset through torchreid's engine.

    toplight-train --config-file configs/sysu/mbv3l_top_fdr.yaml [--resume] [KEY VALUE ...]

``--resume`` (= ``model.resume auto``) continues from the newest checkpoint in ``data.save_dir`` when there is one
(a fresh start otherwise); ``model.resume PATH`` from that file. ``test.evaluate True`` only evaluates the weights
(``--weights`` or ``model.load_weights``), as torchreid's ``scripts/main.py`` does. Everything printed also goes to
``<data.save_dir>/train.log-<time>`` (``test.log-<time>`` when only evaluating), torchreid's text log. One run at a
time holds ``data.save_dir``; a fresh run into a folder that holds another run's checkpoints or results is refused
unless ``--resume`` or ``--overwrite`` says which of the two is meant.
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
from toplight_plugin.cli.textlog import run_log, text_log
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training import checkpoint, distributed, run_folder
from toplight_plugin.core.training.config import load_config
from toplight_plugin.hosts.torchreid.build import build_datamanager, build_engine


def parse(argv, description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", help="yacs file; defaults are the paper's recipe")
    parser.add_argument("--resume", action="store_true", help="continue from <save_dir>/last.pth")
    parser.add_argument("--weights", default="", help="checkpoint to evaluate (test) or start from (train)")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in a data.save_dir that holds a run: its checkpoints and results.json are "
                             "deleted once the data and model are built (when only evaluating: replace its "
                             "results.json and config.yaml)")  # fmt: skip
    overrides.add_overrides(parser, "train.max_epoch 10")
    return overrides.parse(parser, argv)


def check_arguments(cfg, weights: str = "", overwrite: bool = False) -> None:
    """Combinations that would silently drop one of the user's choices."""
    if cfg.test.evaluate:
        if not (weights or cfg.model.load_weights):
            raise ValueError("test.evaluate True needs the weights to evaluate: --weights or model.load_weights")
        return
    if cfg.model.resume and weights:
        raise ValueError(
            f"--resume restores the weights saved in the checkpoint it continues from, so --weights {weights} would "
            "not be loaded: give --weights for a fresh run, --resume to continue one"
        )
    if cfg.model.resume and overwrite:
        raise ValueError("--resume continues the run in data.save_dir and --overwrite replaces it: give one of them")


@contextlib.contextmanager
def session(cfg, weights: str = "", overwrite: bool = False):
    """What rank 0 holds while a run runs: the lock on data.save_dir (taken before looking for another run's files
    there) and torchreid's text log. Other ranks stay silent (torchreid prints from every process)."""
    check_arguments(cfg, weights, overwrite)
    if not distributed.is_main():
        with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
            yield
        return
    save_dir = cfg.data.save_dir
    if not cfg.test.evaluate:
        with run_log(save_dir, "train", bool(cfg.model.resume), overwrite):
            yield
        return
    with run_folder.locked(save_dir):
        run_folder.refuse_foreign_results(save_dir, weights or cfg.model.load_weights, overwrite)
        with text_log(save_dir, "test"):
            yield


def main(argv: list[str] | None = None):
    args = parse(argv, __doc__)
    opts = list(args.opts) + (["model.resume", "auto"] if args.resume else [])
    cfg = load_config(args.config_file, opts)
    distributed.init_from_env()  # before the data manager: the sampler reads its rank and world size
    try:
        with session(cfg, args.weights, args.overwrite):
            return run(cfg, args.weights, args.overwrite)
    finally:
        distributed.shutdown()


def resume_from(cfg) -> Path | None:
    """The checkpoint ``model.resume`` names: a path, "auto" (the newest in data.save_dir, if any) or nothing."""
    if cfg.model.resume == "auto":
        return checkpoint.newest(cfg.data.save_dir)
    if cfg.model.resume and not Path(cfg.model.resume).is_file():
        raise FileNotFoundError(f"model.resume {cfg.model.resume}: no such checkpoint")
    return Path(cfg.model.resume) if cfg.model.resume else None


def run(cfg, weights: str = "", overwrite: bool = False):
    """Train (or, with test.evaluate, only evaluate) as the config says; returns the engine. ``config.yaml`` is
    written once the data and model are built and the checkpoint to resume from is loaded, so a run that fails
    before leaves the folder as it was."""
    check_arguments(cfg, weights, overwrite)
    weights = weights or cfg.model.load_weights
    torch.manual_seed(cfg.train.seed)  # the sampler's seed inside torchreid's data manager
    use_gpu = torch.cuda.is_available()
    save_dir = Path(cfg.data.save_dir)
    main_rank = distributed.is_main()
    resume = None if cfg.test.evaluate else distributed.from_main(lambda: resume_from(cfg))
    state = None if resume is None else distributed.from_main(lambda: checkpoint.load(resume))
    if state is not None:
        batch, lines = checkpoint.resumed_batch(state, distributed.world_size(), cfg.train.batch_size, resume)
        for line in lines:
            print(line)
        if batch != cfg.train.batch_size:
            cfg.defrost()
            cfg.train.batch_size = batch
            cfg.freeze()
    for stale in checkpoint.remove_stale(save_dir) if main_rank else []:
        print(f"removed {stale}, left by a save that was killed midway")
    datamanager = build_datamanager(cfg, use_gpu)
    model = build_model(cfg, datamanager.num_train_pids, weights, evaluate=cfg.test.evaluate)
    engine = build_engine(cfg, datamanager, model, use_gpu)
    start = 0
    if state is not None:
        start = engine.resume(resume, state)
        print(f"resumed from {resume} at epoch {start}")
    elif cfg.model.resume == "auto":
        print(f"no checkpoint in {save_dir}: starting from epoch 0")
    if main_rank:
        save_dir.mkdir(parents=True, exist_ok=True)
        if overwrite and not cfg.test.evaluate:
            for old in run_folder.clear(save_dir):
                print(f"--overwrite: removed {old}")
        run_folder.write_config(save_dir, cfg.dump(), replace=overwrite or not cfg.test.evaluate)
    engine.run(
        save_dir=str(save_dir),
        max_epoch=cfg.train.max_epoch,
        start_epoch=start,
        print_freq=cfg.train.print_freq,
        fixbase_epoch=cfg.train.fixbase_epoch,
        open_layers=list(cfg.train.open_layers),
        start_eval=cfg.test.start_eval,
        eval_freq=cfg.test.eval_freq,
        test_only=cfg.test.evaluate,
        ranks=list(cfg.test.ranks),
        visrank=cfg.test.visrank,
        visrank_topk=cfg.test.visrank_topk,
        dist_metric=cfg.test.dist_metric,
        normalize_feature=cfg.test.normalize_feature,
        rerank=cfg.test.rerank,
    )
    return engine


if __name__ == "__main__":
    main()

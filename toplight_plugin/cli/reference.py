"""Train and test a stock torchreid model with torchreid's own triplet engine on a plugin dataset, the reference a
TOPLight model's learning is measured against (docs/learning.md).

    toplight-reference --config-file configs/synthetic/osnet_reference.yaml [KEY VALUE ...]

Like ``toplight-train`` it holds ``data.save_dir`` while it runs and refuses a folder that holds another run's
checkpoints or results unless ``--overwrite``; it has no ``--resume`` or ``--weights``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from toplight_plugin.cli.train import parse
from toplight_plugin.core.training import run_folder
from toplight_plugin.core.training.config import load_config
from toplight_plugin.hosts.torchreid.reference import build_reference


def main(argv: list[str] | None = None):
    args = parse(argv, __doc__)
    if args.resume or args.weights:
        raise ValueError(f"{'--resume' if args.resume else '--weights'}: toplight-reference trains torchreid's "
                         "model from its own initialisation and does not continue or load a checkpoint")  # fmt: skip
    cfg = load_config(args.config_file, args.opts)
    torch.manual_seed(cfg.train.seed)
    save_dir = Path(cfg.data.save_dir)
    with run_folder.locked(save_dir):
        run_folder.refuse_fresh_run(save_dir, resume=None, overwrite=args.overwrite)
        return _train(cfg, save_dir, args.overwrite)


def _train(cfg, save_dir: Path, overwrite: bool):
    """Build first, then replace the old run's files (``--overwrite``) and write config.yaml."""
    engine = build_reference(cfg)
    for old in run_folder.clear(save_dir) if overwrite else []:
        print(f"--overwrite: removed {old}")
    run_folder.write_config(save_dir, cfg.dump())
    engine.run(save_dir=str(save_dir), max_epoch=cfg.train.max_epoch, print_freq=cfg.train.print_freq,
               eval_freq=cfg.test.eval_freq, start_eval=cfg.test.start_eval)  # fmt: skip
    return engine


if __name__ == "__main__":
    main()

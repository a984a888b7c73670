"""fast-reid's ``train_net.py`` for TOPLight, as its projects write one: the same flags (``--config-file``,
``--eval-only``, ``--num-gpus``, ``--resume``, ``KEY VALUE`` overrides), a DefaultTrainer subclass, ``launch``.

    python -m toplight_plugin.hosts.fastreid.train_net --config-file configs/fastreid/synthetic.yaml
    toplight-fastreid --config-file configs/fastreid/synthetic.yaml --eval-only MODEL.WEIGHTS <file>

``--eval-only`` evaluates ``MODEL.WEIGHTS``: a checkpoint of this host or one of the plugin's (torchreid host, TOP
soup). A user's mistake (a missing file, an unknown key or model, a dataset folder without its files) ends the
command with one line and exit status 2 (cli.console).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from fastreid.config import get_cfg
from fastreid.engine import default_argument_parser, default_setup, launch

from toplight_plugin.core.training.config_files import find

from . import add_toplight_config
from .checkpoint import PluginCheckpointer
from .config import named
from .trainer import Trainer


def setup(args):
    """fast-reid's defaults, the TOPLIGHT node, the config file (a path or a shipped name such as
    ``fastreid/synthetic``), then the overrides."""
    cfg = get_cfg()
    add_toplight_config(cfg)
    if args.config_file:
        args.config_file = str(find(args.config_file))  # fast-reid's default_setup logs the file it names
        with named(args.config_file):
            cfg.merge_from_file(args.config_file)
    if args.opts:
        with named("command line"):
            cfg.merge_from_list(args.opts)
    cfg.freeze()
    # default_setup's environment report imports torch.utils.cpp_extension, which warns on stderr when a machine has
    # nvcc but no GPU; nothing here builds CUDA code, and a mistake's message must stay the one line on stderr
    logging.getLogger("torch.utils.cpp_extension").setLevel(logging.ERROR)
    default_setup(cfg, args)
    return cfg


def main(args):
    cfg = setup(args)
    if args.eval_only:
        if not cfg.MODEL.WEIGHTS:
            raise ValueError("--eval-only evaluates MODEL.WEIGHTS: give the checkpoint, e.g. MODEL.WEIGHTS "
                             f"{Path(cfg.OUTPUT_DIR) / 'model_final.pth'}")  # fmt: skip
        if not Path(cfg.MODEL.WEIGHTS).is_file():
            raise FileNotFoundError(f"MODEL.WEIGHTS {cfg.MODEL.WEIGHTS}: no such file")
        model = Trainer.build_model(cfg)
        PluginCheckpointer(model, save_dir=cfg.OUTPUT_DIR).load(cfg.MODEL.WEIGHTS)
        return Trainer.test(cfg, model)
    if cfg.MODEL.WEIGHTS and not Path(cfg.MODEL.WEIGHTS).is_file():
        raise FileNotFoundError(f"MODEL.WEIGHTS {cfg.MODEL.WEIGHTS}: no such file")
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def run(argv: list[str] | None = None):
    """Parse fast-reid's flags and launch ``main`` on ``--num-gpus`` processes per machine; the results of a single
    process (fast-reid's ``launch`` returns nothing)."""
    args = default_argument_parser().parse_args(argv)
    if args.num_gpus * args.num_machines <= 1:
        return main(args)
    return launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))  # fmt: skip


if __name__ == "__main__":
    from toplight_plugin.cli.console import run as run_tool

    sys.exit(run_tool("fastreid"))

"""The model options the deployment tools share: a registered name or a training config, and a checkpoint."""

from __future__ import annotations

import argparse

from toplight_plugin.cli.overrides import add_overrides
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.models.weights import load_state_dict_file
from toplight_plugin.core.training.config import load_config


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="a registered model name (overrides the config's model.name)")
    parser.add_argument("--weights", default="", help="a checkpoint (VI training or soup); random weights if none")
    parser.add_argument("--config-file", default="", help="the training config: FDR options and input size")
    add_overrides(parser, "data.height 256")


def model_from_args(args: argparse.Namespace):
    """(model in eval mode, its config). Without a config, a checkpoint lacking FDR tensors builds the
    no-FDR form of the model, so a baseline checkpoint loads as it was trained."""
    opts = ["model.pretrained", "False"]
    if args.model:
        opts += ["model.name", args.model]
    if args.weights and not args.config_file:
        if not any(k.startswith("backbone.neck.") for k in load_state_dict_file(args.weights)):
            opts += ["toplight.fdr", ""]
    cfg = load_config(args.config_file or None, opts + list(args.opts))
    model = build_model(cfg, num_classes=1, weights=args.weights, evaluate=True)
    return model.eval(), cfg

"""The model options the deployment tools share: a registered name or a training config, and a checkpoint."""

from __future__ import annotations

import argparse

from toplight_plugin.cli.overrides import add_overrides
from toplight_plugin.core.models.cards import read_weights
from toplight_plugin.core.models.configured import build_model, config_overrides
from toplight_plugin.core.training.config import load_config


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="", help="a registered model name (overrides the config's model.name; "
                        "a checkpoint's model card names it)")  # fmt: skip
    parser.add_argument("--weights", default="", help="a checkpoint (VI training or soup); random weights if none")
    parser.add_argument("--config-file", default="", help="the training config: FDR options and input size")
    add_overrides(parser, "data.height 256")


def model_from_args(args: argparse.Namespace):
    """(model in eval mode, its config). Without a config, a checkpoint builds the model and options its card names
    (the overrides win), so it loads as it was trained."""
    opts = ["model.pretrained", "False"]
    name = args.model
    if args.weights and not args.config_file:
        weights = read_weights(args.weights)
        name = weights.model_name(args.model)
        opts += config_overrides(weights.options)
    if name:
        opts += ["model.name", name]
    cfg = load_config(args.config_file or None, opts + list(args.opts))
    model = build_model(cfg, num_classes=1, weights=args.weights, evaluate=True)
    return model.eval(), cfg

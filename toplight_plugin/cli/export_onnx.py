"""Export a model to ONNX for CPU / edge inference and check it against PyTorch with onnxruntime.

    toplight-export --model toplight_mobilenetv3_large [--weights FILE] --output model.onnx
    toplight-export --config-file configs/sysu/mbv3l_top_fdr.yaml --weights output/.../last.pth --output m.onnx

The graph: ``images`` (N x 3 x H x W RGB in [0, 1], float32) and ``modality`` (N, int64: 0 visible,
1 infrared) -> ``features`` (N x D, unit length); the batch is dynamic. docs/deploy.md explains the choice.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toplight_plugin.cli.model_args import add_model_arguments, model_from_args
from toplight_plugin.cli.overrides import parse
from toplight_plugin.core.deploy.export import export_onnx, parity
from toplight_plugin.core.training.run_folder import refuse_own_input


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--tolerance", type=float, default=1e-4, help="largest accepted |onnxruntime - PyTorch|")
    add_model_arguments(parser)
    args = parse(parser, argv)
    refuse_own_input(args.output, {"--weights": args.weights, "--config-file": args.config_file})
    model, cfg = model_from_args(args)
    height, width = cfg.data.height, cfg.data.width
    weights = str(args.weights or cfg.model.load_weights)  # "" tells toplight-search the graph is untrained
    meta = {"model": cfg.model.name, "weights": weights, "modality": "0 visible, 1 infrared"}
    norm = dict(mean=tuple(cfg.data.norm_mean), std=tuple(cfg.data.norm_std))  # the training config's, inside
    export_onnx(model, args.output, height, width, meta, args.opset, **norm)
    diff = parity(model, args.output, height, width, **norm)
    print(f"{args.output}: {height}x{width}, max |onnxruntime - PyTorch| = {diff:.2e} (tolerance {args.tolerance:g})")
    if diff > args.tolerance:
        raise SystemExit(f"{args.output}: parity check failed ({diff:.2e} > {args.tolerance:g})")
    return diff


if __name__ == "__main__":
    main()

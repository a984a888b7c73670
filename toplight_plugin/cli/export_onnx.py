"""Export a model to ONNX for CPU / edge inference, checked against PyTorch with onnxruntime; optionally INT8.

    toplight-export --model toplight_mobilenetv3_large [--weights FILE] --output model.onnx
    toplight-export --config-file configs/sysu/mbv3l_top_fdr.yaml --weights output/.../last.pth --output m.onnx
    toplight-export ... --modality visible --output visible.onnx
    toplight-export ... --modality visible --int8 --calibrate data/synthetic/SYSU-MM01 --output visible_int8.onnx

The graph: ``images`` (N x 3 x H x W RGB in [0, 1], float32) and, for ``--modality both`` (the default, one file
for day and night cameras), ``modality`` (N, int64: 0 visible, 1 infrared) -> ``features`` (N x D, unit length);
the batch is dynamic. ``--modality visible|infrared`` holds that stem only and takes no modality input: what a
camera that knows its modality runs. ``--int8`` writes the graph quantised to 8 bits by NNCF (QDQ ONNX, for
OpenVINO; onnxruntime reads it too), calibrated on the images under ``--calibrate``. docs/deploy.md explains the
choices.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from toplight_plugin.cli.model_args import add_model_arguments, model_from_args
from toplight_plugin.cli.overrides import parse
from toplight_plugin.core.deploy.export import GRAPH_MODALITIES, Parity, export_onnx, parity
from toplight_plugin.core.deploy.quantize import calibration_set, expected_cosine, quantize_int8
from toplight_plugin.core.deploy.runtime import GraphSession
from toplight_plugin.core.training.run_folder import refuse_own_input


def main(argv: list[str] | None = None) -> Parity:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, required=True, help="the .onnx file to write")
    parser.add_argument("--modality", choices=list(GRAPH_MODALITIES), default="both",
                        help="the images the graph serves: one modality's stem only, or both with a code per image")
    parser.add_argument("--int8", action="store_true", help="write the graph quantised to INT8 (needs --calibrate)")
    parser.add_argument("--calibrate", type=Path, help="a folder of images (both modalities) to calibrate INT8 on")
    parser.add_argument("--calibration-images", type=int, default=300, help="at most this many, spread evenly")
    parser.add_argument("--opset", type=int, default=17)
    add_model_arguments(parser)
    args = parse(parser, argv)
    if args.int8 != bool(args.calibrate):
        raise ValueError("--int8 and --calibrate DIR go together: INT8 ranges are calibrated on that folder's images")
    if args.calibrate and not args.calibrate.is_dir():
        raise FileNotFoundError(f"--calibrate {args.calibrate}: no such folder of images")
    if args.calibration_images < 1:
        raise ValueError(f"--calibration-images must be at least 1, got {args.calibration_images}")
    refuse_own_input(args.output, {"--weights": args.weights, "--config-file": args.config_file})
    model, cfg = model_from_args(args)
    height, width, modality = cfg.data.height, cfg.data.width, GRAPH_MODALITIES[args.modality]
    weights = str(args.weights or cfg.model.load_weights)  # "" tells toplight-search the graph is untrained
    meta = {"model": cfg.model.name, "weights": weights}
    norm = dict(mean=tuple(cfg.data.norm_mean), std=tuple(cfg.data.norm_std))  # the training config's, inside
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "fp32.onnx" if args.int8 else args.output
        export_onnx(model, fp32, height, width, meta, args.opset, **norm, modality=modality)
        check = parity(model, fp32, height, width, **norm, modality=modality)
        print(f"{fp32 if not args.int8 else 'float32 graph'}: {args.modality}, {height}x{width}, {check}")
        if not check.ok:
            raise SystemExit(f"{args.output}: parity check failed ({check.error:.2e} > {check.tolerance:.2e})")
        if args.int8:
            info = quantize_int8(fp32, args.output, args.calibrate, args.calibration_images)
            images, codes = calibration_set(args.calibrate, height, width, info["modality"], args.calibration_images)
            before, after = (GraphSession(path).run(images, codes) for path in (fp32, args.output))
            cosine = (before * after).sum(axis=1)
            print(f"{args.output}: INT8 (QDQ, NNCF), calibrated on {info['calibration']}; cosine to the float32 "
                  f"graph on them: mean {np.mean(cosine):.4f} (8-bit rounding alone: "
                  f"{expected_cosine(args.output):.4f}), least {np.min(cosine):.4f}")  # fmt: skip
    return check


if __name__ == "__main__":
    main()

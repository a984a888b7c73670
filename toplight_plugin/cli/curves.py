"""Learning curves of one or more training runs as one PNG: per-epoch loss, training accuracy, and the test
rank-1 and mAP of each evaluation, read from each run's TensorBoard log (its ``data.save_dir``).

    toplight-curves output/synthetic/mbv3s_baseline --labels baseline --output curves.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toplight_plugin.cli.figures import plt, save_png
from toplight_plugin.core.analysis.curves import read_curves

PANELS = (("Epoch/loss", "training loss"), ("Epoch/acc", "training accuracy (%)"), ("rank1", "test rank-1 (%)"),
          ("mAP", "test mAP (%)"))  # fmt: skip


def _points(curves: dict, key: str, protocol: str):
    return curves.get(key if key.startswith("Epoch/") else f"Test/{protocol}/{key}", [])


def plot(runs: list[Path], labels: list[str], protocol: str, output: Path) -> Path:
    figure, axes = plt.subplots(1, len(PANELS), figsize=(4 * len(PANELS), 3.2))
    for run, label in zip(runs, labels, strict=True):
        curves = read_curves(run)
        for axis, (key, title) in zip(axes, PANELS, strict=True):
            points = _points(curves, key, protocol)
            if points:
                epochs, values = zip(*points, strict=True)
                axis.plot(epochs, values, marker="." if len(points) < 30 else None, label=label)
            axis.set_title(title)
            axis.set_xlabel("epoch")
            axis.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    return save_png(figure, output)


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="training output folders (data.save_dir)")
    parser.add_argument("--labels", nargs="+", help="one per run (default: the folder names)")
    parser.add_argument("--protocol", default="sysu_all", help="whose rank-1 and mAP to plot, e.g. regdb_v2i")
    parser.add_argument("--output", type=Path, default=Path("curves.png"))
    args = parser.parse_args(argv)
    labels = args.labels or [run.name for run in args.runs]
    if len(labels) != len(args.runs):
        parser.error(f"--labels: {len(labels)} label(s) for {len(args.runs)} run(s)")
    try:
        written = plot(args.runs, labels, args.protocol, args.output)
    except FileNotFoundError as error:
        parser.exit(2, f"toplight-curves: {error}\n")
    print(f"written to {written}")
    return written


if __name__ == "__main__":
    main()

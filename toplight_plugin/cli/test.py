"""Evaluate a checkpoint with the published protocols and print the paper's table columns.

    toplight-test --config-file configs/sysu/mbv3l_top_fdr.yaml --weights output/.../last.pth [KEY VALUE ...]

SYSU-MM01: all and indoor search over ``toplight.trials`` gallery trials; RegDB: the trial of ``data.split_id``
in both directions; faces: rank-1 and VR at FAR 1 % / 0.1 %. Written to ``<data.save_dir>/results.json`` (percent)
and, with everything printed, to torchreid's text log ``<data.save_dir>/test.log-<time>``. The same as
``toplight-train ... test.evaluate True``. A ``results.json`` already in ``data.save_dir`` is replaced only when the
folder is that of ``--weights`` (the run's own figures) or with ``--overwrite``; a ``config.yaml`` already there,
the config of the run that made the folder, is kept.
"""

from __future__ import annotations

from pathlib import Path

from toplight_plugin.cli.train import parse, run, session
from toplight_plugin.core.training.config import load_config

COLUMNS = ("rank1", "rank10", "rank20", "mAP", "mINP")


def format_results(results: dict) -> str:
    """Markdown: one row per protocol (mean over trials) and one per trial."""
    lines = ["| protocol | trial | r=1 | r=10 | r=20 | mAP | mINP |", "|---|---|---|---|---|---|---|"]
    face = []
    for protocol, summary in results.items():
        if "trials" not in summary:
            face.append(f"{protocol}: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items()))
            continue
        lines.append(f"| {protocol} | mean | " + " | ".join(f"{summary[c]:.2f}" for c in COLUMNS) + " |")
        if len(summary["trials"]) > 1:
            for i, row in enumerate(summary["trials"]):
                lines.append(f"| {protocol} | {i} | " + " | ".join(f"{row[c]:.2f}" for c in COLUMNS) + " |")
    return "\n".join((lines if len(lines) > 2 else []) + face)


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv, __doc__)
    if not args.weights:
        raise ValueError("--weights is required: the checkpoint to evaluate")
    if not Path(args.weights).is_file():
        raise FileNotFoundError(f"--weights {args.weights}: no such file")
    if args.resume:
        raise ValueError("--resume continues a training; toplight-test only evaluates --weights")
    cfg = load_config(args.config_file, [*args.opts, "test.evaluate", "True"])
    with session(cfg, args.weights, args.overwrite):
        engine = run(cfg, args.weights, args.overwrite)
        print(format_results(engine.last_results))
        print(f"written to {Path(cfg.data.save_dir) / 'results.json'}")
    return engine.last_results


if __name__ == "__main__":
    main()

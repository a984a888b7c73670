"""Compare runs as a paper's results section does: accuracy per protocol (r=1 / mAP / mINP), FLOPs, parameters and
CPU images/s (PyTorch eager and onnxruntime, timed in this run, interleaved), beside the published figures of the
row each config reproduces, as a table and a picture of rank-1 against FLOPs (log scale).

    toplight-compare configs/sysu/mbv3l_top_fdr.yaml=output/sysu/mbv3l_top_fdr/results.json \\
        configs/sysu/agw_resnet50.yaml=output/sysu/agw_resnet50/last.pth configs/sysu/ddag_resnet50.yaml \\
        [--output output/compare] [--batch 32] [--rounds 3] [--no-speed]

Each run is ``CONFIG[=RESULT]``: RESULT is a ``results.json`` of ``toplight-test`` / ``toplight-train``, or a
checkpoint, tested here with the config's protocol first; a config alone shows FLOPs, parameters, speed and the
published figures. FLOPs, parameters and speed are the config's model at its input size (``data.height`` x
``data.width``). Writes ``comparison.md``, ``comparison.json`` and ``comparison.png`` (or ``--picture``) into
``--output``.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from tqdm import tqdm

from toplight_plugin.cli import test as test_tool
from toplight_plugin.core.analysis.compare import Run, plot, to_markdown
from toplight_plugin.core.analysis.flops import count_mflops, inference_mparams
from toplight_plugin.core.analysis.paper_figures import paper_row
from toplight_plugin.core.deploy.benchmark import Subject, random_batches, time_models
from toplight_plugin.core.models.batchnorm import recalibrate_batchnorm
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config

BACKENDS = ("eager", "onnxruntime")


def split_run(text: str) -> tuple[str, str]:
    config, _, result = text.partition("=")
    return config, result


def load_results(result: str, config: str, save_dir: Path) -> dict | None:
    """A results.json as written by the protocol code, or a checkpoint tested now; None without either."""
    if not result:
        return None
    path = Path(result)
    if not path.is_file():
        raise FileNotFoundError(f"{result}: no such file (the result of {config})")
    if path.suffix == ".json":
        try:
            results = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise ValueError(f"{result}: not JSON ({error.msg}, line {error.lineno})") from None
        if not isinstance(results, dict) or not results or not all(
            isinstance(v, dict) and "rank1" in v for v in results.values()
        ):
            raise ValueError(f"{result}: expected a results.json of toplight-test (protocol -> {{rank1, ...}})")
        return results
    return test_tool.main(["--config-file", config, "--weights", str(path), "data.save_dir", str(save_dir)])


def describe(config: str, result: str, output: Path, timed: bool) -> tuple[Run, Subject]:
    cfg = load_config(config, ["model.pretrained", "False", "model.load_weights", ""])
    label = f"{Path(config).parent.name}/{Path(config).stem}"
    results = load_results(result, config, output / label.replace("/", "_"))
    model = build_model(cfg, num_classes=1, evaluate=True)
    size = (cfg.data.height, cfg.data.width)
    if timed:  # random weights: keep activations out of the denormal range, which CPUs run slowly
        recalibrate_batchnorm(model, random_batches(*size))
    run = Run(label, cfg.model.name, cfg.data.sources[0], count_mflops(model, size), inference_mparams(model),
              paper_row(config), results)  # fmt: skip
    return run, Subject(label, model, *size)


def main(argv: list[str] | None = None) -> list[Run]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="CONFIG[=RESULT]")
    parser.add_argument("--output", type=Path, default=Path("output/compare"))
    parser.add_argument("--picture", type=Path, help="where the PNG goes (default: <output>/comparison.png)")
    parser.add_argument("--batch", type=int, default=32, help="images per call when timing")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=1.0, help="least time per case and round")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-speed", action="store_true", help="skip the timing")
    args = parser.parse_args(argv)
    described = []
    for text in args.runs:
        run, subject = describe(*split_run(text), args.output, not args.no_speed)
        repeats = sum(r.label.split(" #")[0] == run.label for r, _ in described)
        if repeats:  # the same config with another result
            run.label = subject.name = f"{run.label} #{repeats + 1}"
        described.append((run, subject))
    runs = [run for run, _ in described]
    keys = [] if args.no_speed else [f"{backend}@{args.batch}" for backend in BACKENDS]
    if keys:
        total = len(runs) * len(BACKENDS) * args.rounds
        with tqdm(total=total, desc="timing") as bar:
            rates = time_models([s for _, s in described], (args.batch,), args.rounds, args.seconds, args.threads,
                                BACKENDS, bar)  # fmt: skip
        for run in runs:
            run.speed = rates[run.label]
    table = to_markdown(runs, keys)
    print(table)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "comparison.md").write_text(table + "\n")
    (args.output / "comparison.json").write_text(json.dumps([asdict(run) for run in runs], indent=2))
    print(f"picture: {plot(runs, args.picture or args.output / 'comparison.png')}")
    return runs


if __name__ == "__main__":
    main()

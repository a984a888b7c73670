"""CPU benchmark: images/s of every TOPLight variant, the AGW and DDAG baselines and Table 4's conventional networks
at batch 1 and 32, in PyTorch eager (contiguous and channels_last) and onnxruntime, interleaved, with the thread
count pinned; plus parameters (those inference uses) and FLOPs. Writes the table into docs/benchmarks.md.

    toplight-benchmark [--threads 2] [--rounds 5] [--write docs/benchmarks.md] [--json output/benchmark.json]
    toplight-benchmark --profile toplight_mobilenetv3_large agw_resnet50 [--write docs/benchmarks.md]

``--profile`` instead reports where the time goes: the share of each operator type in PyTorch eager and in
onnxruntime for the named models at the largest batch.

    toplight-benchmark --edge [--models toplight_mobilenetv3_large agw_resnet50] [--write docs/benchmarks.md]

``--edge`` instead times the deployment paths of docs/deploy.md side by side (PyTorch float32 / bfloat16,
onnxruntime float32 / INT8, OpenVINO float32 / bfloat16 / INT8, on the visible graph, and onnxruntime on the graph
for both modalities): images/s, batch-1 latency median and p95, the precision that ran and the share of the CPU's
nominal peak (core/deploy/edge_bench.py); the table goes between ``<!-- edge:begin/end -->``.
"""

from __future__ import annotations

import argparse
import platform
from pathlib import Path

import onnxruntime
import torch
from tqdm import tqdm

from toplight_plugin.core.analysis.docs import publish, replace_section
from toplight_plugin.core.deploy.benchmark import BACKENDS, BASELINE, deployable, profile_ops, run_benchmark
from toplight_plugin.core.deploy.edge_bench import PATHS, edge_benchmark, edge_markdown

GOAL_MODEL = "toplight_mobilenetv3_large"
EDGE_MODELS = [GOAL_MODEL, BASELINE]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def to_markdown(result: dict) -> str:
    models, batches = result["models"], sorted({int(k.split("@")[1]) for k in next(iter(result["models"].values()))
                                                 if "@" in k})  # fmt: skip
    head = "| model | params (M) | MFLOPs | " + " | ".join(f"{b} b={n}" for n in batches for b in BACKENDS) + " |"
    lines = [
        f"{cpu_name()}, {result['threads']} threads (torch and onnxruntime intra-op), torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}; input {result['height']}x{result['width']}; images/s, median of "
        f"{result['rounds']} interleaved rounds.",
        "",
        head,
        "|---|---|---|" + "---|" * (len(batches) * len(BACKENDS)),
    ]
    for name, row in models.items():
        rates = " | ".join(f"{row[f'{b}@{n}']:.1f}" for n in batches for b in BACKENDS)
        lines.append(f"| {name} | {row['params_m']:.2f} | {row['mflops']:.1f} | {rates} |")
    if BASELINE in models:
        base = models[BASELINE]
        lines += ["", f"Speed-up over {BASELINE} (same backend and batch) beside its FLOPs ratio:", ""]
        lines.append("| model | FLOPs ratio | " + " | ".join(f"{b} b={n}" for n in batches for b in BACKENDS) + " |")
        lines.append("|---|---|" + "---|" * (len(batches) * len(BACKENDS)))
        for name, row in models.items():
            if name == BASELINE:
                continue
            ratios = " | ".join(f"{row[f'{b}@{n}'] / base[f'{b}@{n}']:.1f}x" for n in batches for b in BACKENDS)
            lines.append(f"| {name} | {base['mflops'] / row['mflops']:.1f}x | {ratios} |")
    return "\n".join(lines)


def profile_markdown(profiles: dict[str, dict], batch: int, threads: int) -> str:
    lines = [f"Share of time per operator type (top 6), batch {batch}, {threads} threads:", ""]
    lines += ["| model | backend | operators (% of the time) |", "|---|---|---|"]
    for name, backends in profiles.items():
        for backend, shares in backends.items():
            ops = ", ".join(f"{op.removeprefix('aten::')} {share:.0f} %" for op, share in shares.items())
            lines.append(f"| {name} | {backend} | {ops} |")
    return "\n".join(lines)


def edge(args) -> dict:
    models = args.models
    with tqdm(total=len(models) * len(args.batches) * len(PATHS) * args.rounds, desc="edge cases") as bar:
        result = edge_benchmark(models, tuple(args.batches), args.height, args.width, args.rounds, args.seconds,
                                args.threads, args.ghz, bar)  # fmt: skip
    import openvino

    table = (f"{cpu_name()}, torch {torch.__version__}, onnxruntime {onnxruntime.__version__}, OpenVINO "
             f"{openvino.__version__}. " + edge_markdown(result))  # fmt: skip
    publish(table, result, args.json, args.write, "edge")
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", help="default: every deployable model (--edge: "
                        f"{' '.join(EDGE_MODELS)})")  # fmt: skip
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--width", type=int, default=144)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=1.0, help="least time per case and round")
    parser.add_argument("--write", type=Path, help="markdown file with <!-- cpu:begin/end --> markers to update")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--profile", nargs="+", metavar="MODEL", help="profile these models instead of timing")
    parser.add_argument("--edge", action="store_true", help="time the deployment paths instead")
    parser.add_argument("--ghz", type=float, help="--edge: the clock for the nominal peaks (default: the reported)")
    args = parser.parse_args(argv)
    args.models = args.models or (EDGE_MODELS if args.edge else deployable())
    if args.edge:
        return edge(args)
    if args.profile:
        batch = max(args.batches)
        profiles = {name: profile_ops(name, args.height, args.width, batch, args.threads) for name in args.profile}
        text = profile_markdown(profiles, batch, args.threads)
        print(text)
        if args.write:
            replace_section(args.write, "cpu-profile", text)
        return profiles
    total = len(args.models) * len(args.batches) * len(BACKENDS) * args.rounds
    with tqdm(total=total, desc="benchmark cases") as bar:
        result = run_benchmark(args.models, tuple(args.batches), args.height, args.width, args.rounds, args.seconds,
                               args.threads, progress=bar)  # fmt: skip
    publish(to_markdown(result), result, args.json, args.write, "cpu")
    return result


if __name__ == "__main__":
    main()

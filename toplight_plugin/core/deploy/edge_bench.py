"""The edge table: every way this project can run a model on a CPU, timed side by side on the visible graph.

PyTorch eager in float32 and in bfloat16 (autocast); onnxruntime on the two-stem graph of today and on the visible
graph, float32 and INT8; OpenVINO on the visible graph at an explicit float32 or bfloat16 hint and on the INT8 file.
Cases are interleaved round after round (a slow spell of a shared machine touches all alike); each reports its
median images/s at the large batch and its median and 95th-percentile latency per call at batch 1, the precision
that ran, and the share of the CPU's nominal peak for that precision that the model's FLOPs reach.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from toplight_plugin.core.analysis.flops import count_mflops
from toplight_plugin.core.deploy.benchmark import build_for_benchmark
from toplight_plugin.core.deploy.export import export_onnx
from toplight_plugin.core.deploy.quantize import quantize_on
from toplight_plugin.core.deploy.runtime import GraphSession

FP32_FLOPS_PER_CYCLE = 64  # two 512-bit FMA units: 2 x 16 lanes x 2 FLOPs (DESIGN.md's figure for this CPU)
PATHS = ("pytorch fp32", "pytorch bf16", "onnxruntime fp32 both", "onnxruntime fp32", "onnxruntime int8",
         "openvino fp32", "openvino bf16", "openvino int8", "openvino int8 bf16")  # fmt: skip


def cpu_peaks(threads: int, ghz: float | None = None) -> dict[str, float]:
    """Nominal GFLOP/s (GOP/s for int8) of ``threads`` cores: FP32 FMAs; BF16 dot products (AVX-512 BF16: 2x the
    FP32 rate, AMX tiles: 16x); INT8 dot products (VNNI: 4x, AMX: 32x). ``ghz`` defaults to the reported clock."""
    text = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = set(next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), []))
    if ghz is None:
        mhz = next((float(line.split(":", 1)[1]) for line in text.splitlines() if line.startswith("cpu MHz")), 0.0)
        ghz = mhz / 1000 or 1.0
    fp32 = threads * ghz * FP32_FLOPS_PER_CYCLE
    bf16 = fp32 * (16 if "amx_bf16" in flags else 2 if "avx512_bf16" in flags else 1)
    int8 = fp32 * (32 if "amx_int8" in flags else 4 if "avx512_vnni" in flags else 2)
    return {"fp32": fp32, "bf16": bf16, "int8": int8, "ghz": ghz}


@dataclass
class Case:
    model: str
    path: str
    ran: str
    batch: int
    run: Callable[[], object]
    rates: list[float] = field(default_factory=list)  # images/s per round
    latencies: list[float] = field(default_factory=list)  # seconds per call


def _runners(name: str, model, height: int, width: int, threads: int, folder: Path) -> dict[str, tuple]:
    """{path: (precision that ran, f(images as numpy) -> features)} for one model."""
    both = export_onnx(model, folder / f"{name}_both.onnx", height, width, {"model": name})
    visible = export_onnx(model, folder / f"{name}_visible.onnx", height, width, {"model": name}, modality=0)
    calibration = np.random.default_rng(0).random((32, 3, height, width), dtype=np.float32)
    int8 = folder / f"{name}_visible_int8.onnx"
    quantize_on(visible, int8, calibration, np.zeros(32, np.int64), "32 random images (timing only)")
    sessions = {
        "onnxruntime fp32 both": GraphSession(both, threads=threads),
        "onnxruntime fp32": GraphSession(visible, threads=threads),
        "onnxruntime int8": GraphSession(int8, threads=threads),
        "openvino fp32": GraphSession(visible, "openvino", "fp32", threads),
        "openvino bf16": GraphSession(visible, "openvino", "bf16", threads),
        "openvino int8": GraphSession(int8, "openvino", "fp32", threads),
        "openvino int8 bf16": GraphSession(int8, "openvino", "bf16", threads),
    }

    def eager(images, autocast: bool):
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            return model(torch.from_numpy(images), 0)

    runners = {"pytorch fp32": ("fp32", lambda x: eager(x, False)), "pytorch bf16": ("bf16", lambda x: eager(x, True))}
    for path, session in sessions.items():
        runners[path] = (session.ran, lambda x, s=session: s.run(x, np.zeros(len(x), np.int64)))
    return runners


def _time(cases: list[Case], rounds: int, seconds: float, progress=None) -> None:
    for case in cases:
        case.run()  # warm-up: kernel selection, OpenVINO's compilation for the batch, arenas
    for _ in range(rounds):
        for case in cases:
            calls, start = 0, time.perf_counter()
            while True:
                before = time.perf_counter()
                case.run()
                case.latencies.append(time.perf_counter() - before)
                calls += 1
                if time.perf_counter() - start >= seconds:
                    break
            case.rates.append(calls * case.batch / (time.perf_counter() - start))
            if progress is not None:
                progress.update(1)


def edge_benchmark(models, batches=(1, 32), height: int = 288, width: int = 144, rounds: int = 5, seconds: float = 1.0,
                   threads: int = 2, ghz: float | None = None, progress=None) -> dict:  # fmt: skip
    """Rows of (model, path, batch): precision that ran, images/s (median of rounds), latency median / p95 (ms),
    GFLOP/s and share of the peak of that precision; with the machine's load before and after."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    load_before = os.getloadavg()
    cases, mflops = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            model = build_for_benchmark(name, height, width).eval()
            mflops[name] = count_mflops(model, (height, width))
            runners = _runners(name, model, height, width, threads, Path(tmp))
            for batch in batches:
                images = np.random.default_rng(batch).random((batch, 3, height, width), dtype=np.float32)
                cases += [Case(name, path, ran, batch, lambda f=f, x=images: f(x))
                          for path, (ran, f) in runners.items()]  # fmt: skip
        _time(cases, rounds, seconds, progress)
    peaks = cpu_peaks(threads, ghz)
    rows = []
    for case in cases:
        rate = statistics.median(case.rates)
        kind = "int8" if case.ran.startswith("int8") else case.ran
        gflops = mflops[case.model] * rate / 1000
        rows.append({"model": case.model, "path": case.path, "ran": case.ran, "batch": case.batch, "img_s": rate,
                     "median_ms": 1000 * statistics.median(case.latencies),
                     "p95_ms": 1000 * float(np.percentile(case.latencies, 95)), "mflops": mflops[case.model],
                     "gflops": gflops, "share": gflops / peaks[kind]})  # fmt: skip
    return {"threads": threads, "height": height, "width": width, "rounds": rounds, "peaks": peaks,
            "load": {"before": load_before, "after": os.getloadavg()}, "rows": rows}  # fmt: skip


def edge_markdown(result: dict) -> str:
    """The table: per model and path, throughput at the largest batch and its ratio to onnxruntime's two-stem float32
    graph, batch-1 latency, and the share of the nominal peak of the precision that ran."""
    rows, peaks = result["rows"], result["peaks"]
    big, small = max(r["batch"] for r in rows), min(r["batch"] for r in rows)
    at = {(r["model"], r["path"], r["batch"]): r for r in rows}
    load = result["load"]
    lines = [f"{result['threads']} threads, input {result['height']}x{result['width']}, median of {result['rounds']} "
             f"interleaved rounds; load average (1 min) {load['before'][0]:.2f} before, {load['after'][0]:.2f} after. "
             f"Nominal peaks at {peaks['ghz']:.2f} GHz: FP32 {peaks['fp32']:.0f} GFLOP/s, BF16 {peaks['bf16']:.0f}, "
             f"INT8 {peaks['int8']:.0f} GOP/s.", "",
             f"| model | path | ran | b={big} img/s | vs onnxruntime fp32 both | b={small} median / p95 ms | "
             f"GFLOP/s (b={big}) | share of peak |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for model in dict.fromkeys(r["model"] for r in rows):
        base = at[(model, "onnxruntime fp32 both", big)]["img_s"]
        for path in PATHS:
            r, one = at[(model, path, big)], at[(model, path, small)]
            lines.append(f"| {model} | {path} | {r['ran']} | {r['img_s']:.1f} | {r['img_s'] / base:.2f}x | "
                         f"{one['median_ms']:.2f} / {one['p95_ms']:.2f} | {r['gflops']:.1f} | "
                         f"{100 * r['share']:.1f} % |")  # fmt: skip
    return "\n".join(lines)

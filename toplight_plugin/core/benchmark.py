"""CPU inference throughput of the deployable models: PyTorch eager (contiguous, channels_last) and onnxruntime.

Every (model, backend, batch) case is timed in turn, round after round, and each case reports its median round,
so a slow spell of the machine touches all cases alike and the ratios stay fair. Random-initialised networks are
benchmarked after their BatchNorm statistics are re-estimated on random images: with the initial statistics
activations shrink layer by layer to denormal floats, which CPUs process many times slower.
"""

from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

from .export import export_onnx, onnx_features, onnx_session
from .flops import count_mflops
from .registry import build

BACKENDS = ("eager", "channels_last", "onnxruntime")
BASELINE = "agw_resnet50"
VARIANTS = (
    "toplight_mobilenetv3_large",
    "toplight_mobilenetv3_small",
    "toplight_ghostnet_100",
    "toplight_ghostnet_130",
    "toplight_shufflenetv2_x1_0",
    "toplight_shufflenetv2_x1_5",
    BASELINE,
)


@dataclass
class Case:
    model: str
    backend: str
    batch: int
    run: Callable[[], object]
    rates: list[float] = field(default_factory=list)  # images/s per round

    @property
    def median(self) -> float:
        return statistics.median(self.rates)


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, height: int, width: int, batches: int = 4, batch_size: int = 8) -> None:
    """Replace every BatchNorm's running statistics by the exact average over random images (both modalities)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    generator = torch.Generator().manual_seed(0)
    for i in range(batches):
        model(torch.randn(batch_size, 3, height, width, generator=generator), i % 2)
    model.eval()


def build_for_benchmark(name: str, height: int, width: int) -> nn.Module:
    model = build(name, num_classes=1, loss="softmax", height=height, width=width)
    recalibrate_batchnorm(model, height, width)
    return model


def _cases(name: str, model: nn.Module, batches, height: int, width: int, threads: int, workdir: Path) -> list[Case]:
    cases = []
    onnx_path = export_onnx(model, workdir / f"{name}.onnx", height, width, {"model": name})
    session = onnx_session(onnx_path, threads)
    contiguous, last = model, copy.deepcopy(model).to(memory_format=torch.channels_last)
    for batch in batches:
        x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(batch))
        x_last = x.contiguous(memory_format=torch.channels_last)
        images, modality = x.numpy().clip(0, 1), np.zeros(batch, np.int64)
        cases += [
            Case(name, "eager", batch, lambda m=contiguous, x=x: m(x, 0)),
            Case(name, "channels_last", batch, lambda m=last, x=x_last: m(x, 0)),
            Case(name, "onnxruntime", batch, lambda s=session, i=images, m=modality: onnx_features(s, i, m)),
        ]
    return cases


def run_benchmark(
    models=VARIANTS, batches=(1, 32), height: int = 288, width: int = 144, rounds: int = 5, seconds: float = 1.0,
    threads: int = 2, progress=None,
) -> dict:  # fmt: skip
    """Throughput (images/s, median of ``rounds``), parameters and MFLOPs of each model; each case runs for at
    least ``seconds`` (and at least one call) per round, after one warm-up call."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    info, cases = {}, []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for name in models:
            with torch.inference_mode(False):
                model = build_for_benchmark(name, height, width)
                info[name] = {
                    "params_m": sum(p.numel() for p in model.parameters()) / 1e6,
                    "mflops": count_mflops(model, (height, width)),
                }
                cases += _cases(name, model, batches, height, width, threads, Path(tmp))
        for case in cases:
            case.run()  # warm-up: allocations, oneDNN kernel selection, onnxruntime arenas
        for _ in range(rounds):
            for case in cases:
                calls, start = 0, time.perf_counter()
                while True:
                    case.run()
                    calls += 1
                    elapsed = time.perf_counter() - start
                    if elapsed >= seconds:
                        break
                case.rates.append(calls * case.batch / elapsed)
                if progress is not None:
                    progress.update(1)
    for case in cases:
        info[case.model][f"{case.backend}@{case.batch}"] = case.median
    return {"threads": threads, "height": height, "width": width, "rounds": rounds, "models": info}


def profile_ops(name: str, height: int, width: int, batch: int, threads: int, calls: int = 3) -> dict[str, dict]:
    """Where the time goes: share of each operator type, per backend, over ``calls`` runs of one batch."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    model = build_for_benchmark(name, height, width)
    x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(0))
    shares: dict[str, dict] = {}
    with torch.inference_mode():
        model(x, 0)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            for _ in range(calls):
                model(x, 0)
    events = {e.key: e.self_cpu_time_total for e in prof.key_averages()}
    shares["eager"] = _shares(events)
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(model, Path(tmp) / "m.onnx", height, width, {"model": name})
        session = onnx_session(path, threads, profile_prefix=str(Path(tmp) / "ort"))
        images, modality = x.numpy().clip(0, 1), np.zeros(batch, np.int64)
        onnx_features(session, images, modality)
        for _ in range(calls):
            onnx_features(session, images, modality)
        trace = json.loads(Path(session.end_profiling()).read_text())
    totals: dict[str, float] = {}
    for event in trace:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            op = event["args"]["op_name"]
            totals[op] = totals.get(op, 0.0) + event["dur"]
    shares["onnxruntime"] = _shares(totals)
    return shares


def _shares(times: dict[str, float], top: int = 6) -> dict[str, float]:
    total = sum(times.values()) or 1.0
    ranked = sorted(times.items(), key=lambda kv: kv[1], reverse=True)[:top]
    return {op: 100.0 * t / total for op, t in ranked}

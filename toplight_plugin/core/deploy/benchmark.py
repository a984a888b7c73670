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

from toplight_plugin.core.analysis.flops import count_mflops, inference_mparams
from toplight_plugin.core.deploy.export import export_onnx, onnx_features, onnx_session
from toplight_plugin.core.models.batchnorm import recalibrate_batchnorm
from toplight_plugin.core.models.registry import build, cards

BACKENDS = ("eager", "channels_last", "onnxruntime")
BASELINE = "agw_resnet50"


def deployable() -> list[str]:
    """The registered visible-infrared person re-id models (their cards' task), variants left out: what
    ``run_benchmark`` times unless told otherwise."""
    return [name for name, card in cards().items() if card.task == "person" and not card.base]


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


def random_batches(height: int, width: int, batches: int = 4, batch_size: int = 8) -> list[tuple]:
    """Seeded random images, alternately visible and infrared: what an untrained model's BatchNorm statistics are
    estimated on before it is timed (core/models/batchnorm.py says why)."""
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(batch_size, 3, height, width, generator=generator), i % 2) for i in range(batches)]


def build_for_benchmark(name: str, height: int, width: int) -> nn.Module:
    model = build(name, num_classes=1, loss="softmax", height=height, width=width)
    recalibrate_batchnorm(model, random_batches(height, width))
    return model


@dataclass
class Subject:
    """A model to time, at its own input size."""

    name: str
    model: nn.Module
    height: int = 288
    width: int = 144


def _cases(subject: Subject, batches, threads: int, onnx_path: Path, backends=BACKENDS) -> list[Case]:
    name, model, height, width = subject.name, subject.model, subject.height, subject.width
    cases = []
    session = None
    if "onnxruntime" in backends:
        session = onnx_session(export_onnx(model, onnx_path, height, width, {"model": name}), threads)
    last = copy.deepcopy(model).to(memory_format=torch.channels_last) if "channels_last" in backends else None
    for batch in batches:
        x = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(batch))
        x_last = x.contiguous(memory_format=torch.channels_last)
        images, modality = x.numpy().clip(0, 1), np.zeros(batch, np.int64)
        runs = {
            "eager": lambda m=model, x=x: m(x, 0),
            "channels_last": lambda m=last, x=x_last: m(x, 0),
            "onnxruntime": lambda s=session, i=images, m=modality: onnx_features(s, i, m),
        }
        cases += [Case(name, backend, batch, runs[backend]) for backend in backends]
    return cases


def time_models(subjects: list[Subject], batches=(1, 32), rounds: int = 5, seconds: float = 1.0, threads: int = 2,
                backends=BACKENDS, progress=None) -> dict[str, dict[str, float]]:  # fmt: skip
    """images/s per subject and ``backend@batch``: every case runs for at least ``seconds`` (and at least one
    call) per round, after one warm-up call, the cases interleaved round after round; each reports its median."""
    torch.set_num_threads(threads)
    torch.set_flush_denormal(True)
    cases = []
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        for index, subject in enumerate(subjects):
            cases += _cases(subject, batches, threads, Path(tmp) / f"{index}.onnx", backends)
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
    rates: dict[str, dict[str, float]] = {subject.name: {} for subject in subjects}
    for case in cases:
        rates[case.model][f"{case.backend}@{case.batch}"] = case.median
    return rates


def run_benchmark(
    models=None, batches=(1, 32), height: int = 288, width: int = 144, rounds: int = 5, seconds: float = 1.0,
    threads: int = 2, progress=None,
) -> dict:  # fmt: skip
    """Throughput (images/s, median of ``rounds``), parameters and MFLOPs of each registered model (``models``,
    default: the deployable ones)."""
    torch.set_num_threads(threads)
    models = deployable() if models is None else models
    subjects = [Subject(name, build_for_benchmark(name, height, width), height, width) for name in models]
    info = {s.name: {"params_m": inference_mparams(s.model), "mflops": count_mflops(s.model, (height, width))}
            for s in subjects}  # fmt: skip
    rates = time_models(subjects, batches, rounds, seconds, threads, BACKENDS, progress)
    for name, row in rates.items():
        info[name].update(row)
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

"""An exported graph opened by one of two CPU runtimes, onnxruntime or OpenVINO, at a stated precision.

``precision`` is what the float operators compute in: ``fp32``, or ``bf16`` (OpenVINO only: onnxruntime's CPU
kernels have no bfloat16). An INT8 file's quantised operators run in 8-bit integers whatever it says; the operators
between them compute in ``precision``. OpenVINO picks bfloat16 by itself on CPUs with BF16 instructions (AVX-512
BF16, AMX), so the hint is always set here, and ``ran`` reads back what the compiled model actually uses: every
figure names the precision that ran, not the one asked for.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from toplight_plugin.core.deploy.export import OUTPUT, check_onnx, onnx_features, onnx_session

RUNTIMES = ("onnxruntime", "openvino")
PRECISIONS = ("fp32", "bf16")
OPENVINO_TYPES = {"fp32": "f32", "bf16": "bf16"}


def file_properties(path: str | Path) -> dict[str, str]:
    """The metadata toplight-export wrote into the file (size, normalisation, modality, precision, model, weights)."""
    import onnx

    proto = onnx.load(str(path), load_external_data=False)
    return {p.key: p.value for p in proto.metadata_props}


def default_runtime(paths) -> str:
    """OpenVINO when any of the graphs is an INT8 file, else onnxruntime. NNCF's QDQ file is fastest in OpenVINO;
    onnxruntime fuses few of its quantised convolutions and runs the rest in float32 between quantise / dequantise
    pairs, slower than the float32 graph itself (docs/deploy.md)."""
    for path in paths:
        check_onnx(path)  # one line for a file that is not a graph, before its metadata is read
    return "openvino" if any(file_properties(path).get("precision") == "int8" for path in paths) else "onnxruntime"


@functools.cache
def openvino_core():
    """The process's one OpenVINO ``Core``. Its CPU plugin gives the thread that loads it an alternate signal stack
    and puts back the one it found when its ``Core`` goes: two ``Core`` objects released in the order they were made
    leave the thread's alternate stack in freed memory, and the next signal handled there (SIGCHLD when a
    subprocess ends, once torch's data loader has installed its handler) kills the process with SIGSEGV."""
    import openvino as ov

    return ov.Core()


class GraphSession:
    """``session.run(images, modality)`` -> features of an exported graph; ``inputs`` the names it declares,
    ``metadata`` its properties, ``ran`` the precision that runs (``int8 + fp32`` for a quantised file)."""

    def __init__(self, path: str | Path, runtime: str = "onnxruntime", precision: str = "fp32", threads: int = 0):
        if runtime not in RUNTIMES:
            raise ValueError(f"--runtime: expected one of {RUNTIMES}, got {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"--precision: expected one of {PRECISIONS}, got {precision!r}")
        if runtime == "onnxruntime" and precision != "fp32":
            raise ValueError(f"--precision {precision}: onnxruntime's CPU kernels compute in fp32 only; "
                             "use --runtime openvino for bf16")  # fmt: skip
        check_onnx(path)
        self.path, self.runtime, self.threads = Path(path), runtime, threads
        self.metadata = file_properties(path)
        quantised = self.metadata.get("precision") == "int8"
        if runtime == "onnxruntime":
            self.session = onnx_session(path, threads)
            self.inputs = tuple(i.name for i in self.session.get_inputs())
            float_precision = "fp32"
        else:
            self.core, self.compiled = openvino_core(), {}
            self.model = self.core.read_model(str(path))
            self.inputs = tuple(port.get_any_name() for port in self.model.inputs)
            threading = {"INFERENCE_NUM_THREADS": str(threads)} if threads else {}
            # no pinning: OpenVINO would pin the calling thread to one core, and onnxruntime's pool started from it
            # later in the same process (a tool run after another, the benchmark) would share that core
            self.config = {"INFERENCE_PRECISION_HINT": OPENVINO_TYPES[precision], "PERFORMANCE_HINT": "LATENCY",
                           "NUM_STREAMS": "1", "ENABLE_CPU_PINNING": False, **threading}  # fmt: skip
            hint = self._compile(1).get_property("INFERENCE_PRECISION_HINT")
            float_precision = {"f32": "fp32", "bf16": "bf16"}.get(str(hint.get_type_name()), str(hint))
        self.ran = f"int8 + {float_precision}" if quantised else float_precision

    def _compile(self, batch: int):
        """OpenVINO's compiled model for one batch size: static shapes let it pick its fastest kernels."""
        if batch not in self.compiled:
            model = self.model.clone()
            model.reshape({name: [batch, *model.input(name).get_partial_shape()[1:]] for name in self.inputs})
            self.compiled[batch] = self.core.compile_model(model, "CPU", self.config)
        return self.compiled[batch]

    def run(self, images: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """Features of a batch; only the inputs the graph declares are fed (a one-modality graph has no codes)."""
        if self.runtime == "onnxruntime":
            return onnx_features(self.session, images, modality)
        feeds = {"images": images, "modality": modality}
        request = self._compile(len(images))
        return request({name: feeds[name] for name in self.inputs})[OUTPUT]

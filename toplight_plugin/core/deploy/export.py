"""One deployable function per trained model, (images[, modality]) -> L2-normalised features, and its ONNX form.

The graph takes RGB images in [0, 1] (N x 3 x H x W, float32). Exported for ``both`` modalities it also takes one
modality code per image (int64: 0 visible, 1 infrared), so a camera that switches to infrared at night feeds the
same graph, mixed batches included: both stems run on the whole batch and ``Where`` keeps each image's own.
Exported for one modality (a camera knows what it films) it holds that stem only and has no modality input, which
spares the second stem and the ``Where``. The ImageNet normalisation and the final L2 normalisation are inside, so
the features compare by dot product.
"""

from __future__ import annotations

import copy
import math
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from toplight_plugin.core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from toplight_plugin.core.models.dual_path import INFRARED, VISIBLE, DualPathNet
from toplight_plugin.core.models.heads import ReIDNet
from toplight_plugin.core.models.weights import text_instead_of_binary

INPUTS, OUTPUT = ("images", "modality"), "features"
GRAPH_MODALITIES = {"visible": VISIBLE, "infrared": INFRARED, "both": None}
BOTH = "0 visible, 1 infrared"  # the metadata's ``modality`` of a graph taking a code per image


def normalized(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """RGB in [0, 1] -> the normalised input the network was trained on (``data.norm_mean`` / ``data.norm_std``;
    what the graph does inside)."""
    return (images - images.new_tensor(mean).view(1, 3, 1, 1)) / images.new_tensor(std).view(1, 3, 1, 1)


class FeatureGraph(nn.Module):
    """``model`` in eval mode as ``(images in [0, 1], modality codes) -> unit-length retrieval features``, with the
    training config's normalisation inside; with ``modality`` (0 or 1) fixed, ``images -> features`` through that
    modality's stem alone."""

    def __init__(self, model: ReIDNet, mean=IMAGENET_MEAN, std=IMAGENET_STD, modality: int | None = None):
        super().__init__()
        if isinstance(model.backbone, DualPathNet) and len(model.backbone.pre) != 1:
            raise ValueError("a two-group TOP pretraining model cannot be deployed: merge it with tools/soup.py first")
        self.model, self.mean, self.std, self.modality = model, tuple(mean), tuple(std), modality
        self.eval()  # the exporter restores the wrapper's own mode afterwards, recursively

    def forward(self, images: torch.Tensor, modality: torch.Tensor | None = None) -> torch.Tensor:
        backbone = self.model.backbone
        x = normalized(images, self.mean, self.std)
        if not isinstance(backbone, DualPathNet):  # one path for both modalities (the LightCNN baseline)
            features = backbone(x)
        elif self.modality is not None:
            features = backbone.forward_post(backbone.pre[0](backbone.stems[self.modality](x)))
        else:
            visible, infrared = backbone.stems[0](x), backbone.stems[1](x)  # maps, or tokens (ViT)
            x = torch.where((modality == 1).view(-1, *[1] * (visible.dim() - 1)), infrared, visible)
            features = backbone.forward_post(backbone.pre[0](x))
        return F.normalize(self.model.retrieval_features(features), dim=1)


def takes_modality(model: ReIDNet, modality: int | None) -> bool:
    """Whether the exported graph has a ``modality`` input: a dual-stem model exported for both modalities."""
    return modality is None and isinstance(model.backbone, DualPathNet)


def export_onnx(model: ReIDNet, path: str | Path, height: int, width: int, metadata: dict[str, str], opset: int = 17,
                mean=IMAGENET_MEAN, std=IMAGENET_STD, modality: int | None = None):  # fmt: skip
    """Write ``FeatureGraph(model, mean, std, modality)`` as ONNX with a dynamic batch; ``metadata`` goes into the
    file's properties (the input size and model name, which the search tool reads back) with the normalisation and
    the modality the graph serves."""
    import onnx

    graph = FeatureGraph(model, mean, std, modality)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    inputs = INPUTS if takes_modality(model, modality) else INPUTS[:1]
    example = (torch.rand(2, 3, height, width), torch.tensor([0, 1]))[: len(inputs)]
    dynamic = {name: {0: "batch"} for name in (*inputs, OUTPUT)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape guards, constant at a fixed input size
        torch.onnx.export(graph, example, str(path), input_names=list(inputs), output_names=[OUTPUT],
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)  # fmt: skip
    proto = onnx.load(str(path))
    served = BOTH if modality is None else next(k for k, v in GRAPH_MODALITIES.items() if v == modality)
    info = {"height": str(height), "width": str(width), "norm_mean": str(list(mean)), "norm_std": str(list(std)),
            "modality": served, "precision": "fp32", **metadata}  # fmt: skip
    save_onnx(proto, path, info)
    return path


def save_onnx(proto, path: Path, properties: dict[str, str]) -> None:
    """Check ``proto`` with ``properties`` as its metadata and write it in one step (no half-written file)."""
    import onnx

    onnx.helper.set_model_props(proto, properties)
    onnx.checker.check_model(proto)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(path)


def check_onnx(path: str | Path) -> None:
    """One line instead of onnxruntime's traceback for a file that is not an ONNX model (missing, text, a git-LFS
    pointer, a PyTorch checkpoint, an invalid graph)."""
    import onnx

    if not Path(path).is_file():
        raise FileNotFoundError(f"{path}: no such ONNX file")
    why = text_instead_of_binary(path)
    if why:
        raise ValueError(f"{path}: not an ONNX model: {why}")
    try:
        onnx.checker.check_model(str(path))
    except onnx.checker.ValidationError as err:
        reason = str(err).strip().splitlines()[0]
        raise ValueError(f"{path}: not a valid ONNX model ({reason})") from None


def onnx_session(path: str | Path, threads: int = 0, profile_prefix: str = ""):
    """An onnxruntime CPU session of a checked file (check_onnx); ``threads`` > 0 pins its intra-op pool (inter-op
    runs sequentially); ``profile_prefix`` turns on onnxruntime's per-node profiling into files starting with it."""
    import onnxruntime as ort

    check_onnx(path)

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_features(session, images: np.ndarray, modality: np.ndarray) -> np.ndarray:
    """Run the graph; a single-path model's graph has no ``modality`` input, so only declared inputs are fed."""
    feeds = {"images": images, "modality": modality}
    return session.run([OUTPUT], {i.name: feeds[i.name] for i in session.get_inputs()})[0]


SLACK, FLOOR = 10.0, 16 * float(np.finfo(np.float32).eps)  # see Parity


@dataclass
class Parity:
    """How far an exported graph's features are from the model's, as float32 arithmetic allows. Both are measured
    against the model run in float64: ``float32_error`` is the rounding PyTorch's own float32 run carries, which
    grows with the network's depth and the size of its activations, and the graph (its BatchNorm folded into the
    convolutions, other kernels, another summation order) may round up to ``SLACK`` times as much (the same order;
    4x was seen on a 4-image batch of MobileNetV3-S with O(1) activations), never less than ``FLOOR`` (a few ulps
    of a unit-length vector); an export fault (a wrong stem, a missing normalisation) is off by 0.1 or more.
    Errors are the largest ‖a - b‖ over the batch's rows: the features have unit length, so it is relative."""

    error: float
    float32_error: float
    cosine: float  # the least cosine between the graph's and PyTorch float32's features

    @property
    def tolerance(self) -> float:
        return SLACK * max(self.float32_error, FLOOR)

    @property
    def ok(self) -> bool:
        return math.isfinite(self.tolerance) and self.error <= self.tolerance  # False for NaN and inf

    def __str__(self) -> str:
        return (f"max |graph - float64| = {self.error:.2e}, PyTorch float32's own = {self.float32_error:.2e} "
                f"(tolerance {self.tolerance:.2e}), least cosine to PyTorch {self.cosine:.7f}")  # fmt: skip


def _row_error(a: np.ndarray, b: np.ndarray) -> float:
    difference = np.linalg.norm(a.astype(np.float64) - b, axis=1)
    return float(difference.max()) if np.isfinite(difference).all() else float("inf")  # NaN never passes


def reference_features(model: ReIDNet, images: torch.Tensor, modality: torch.Tensor, mean=IMAGENET_MEAN,
                       std=IMAGENET_STD, dtype=torch.float32) -> np.ndarray:  # fmt: skip
    """The model's own eval path (``model(x, modality)``, then L2 normalisation), not the export wrapper's, in
    ``dtype`` (a float64 copy of the model for float64)."""
    net = model.eval() if dtype == torch.float32 else copy.deepcopy(model).to(dtype).eval()
    with torch.no_grad():
        return F.normalize(net(normalized(images.to(dtype), mean, std), modality), dim=1).numpy()


def parity(model: ReIDNet, path: str | Path, height: int, width: int, batch: int = 4, seed: int = 0,
           mean=IMAGENET_MEAN, std=IMAGENET_STD, modality: int | None = None) -> Parity:  # fmt: skip
    """The exported float32 graph under onnxruntime against the model on a batch of random images: mixed
    visible / infrared for a ``both`` graph, else all of the graph's ``modality``."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, height, width, generator=generator)
    codes = torch.arange(batch) % 2 if modality is None else torch.full((batch,), modality)
    single = reference_features(model, images, codes, mean, std)
    double = reference_features(model, images, codes, mean, std, torch.float64)
    got = onnx_features(onnx_session(path, threads=1), images.numpy(), codes.numpy())  # a check: no thread pool
    cosine = float((got * single).sum(axis=1).min()) if np.isfinite(got).all() else float("nan")
    return Parity(_row_error(got, double), _row_error(single, double), cosine)

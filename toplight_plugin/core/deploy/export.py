"""One deployable function per trained model, (images, modality) -> L2-normalised features, and its ONNX form.

The graph takes RGB images in [0, 1] (N x 3 x H x W, float32) and one modality code per image (int64:
0 visible, 1 infrared), so a camera that switches to infrared at night feeds the same graph, mixed batches
included. Both stems run on the whole batch and ``Where`` keeps each image's own: a stem is 1-9 % of a network's
multiply-accumulates (docs/deploy.md), the price of one file for both modalities. The ImageNet normalisation and
the final L2 normalisation are inside, so the features compare by dot product.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from toplight_plugin.core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from toplight_plugin.core.models.dual_path import DualPathNet
from toplight_plugin.core.models.heads import ReIDNet
from toplight_plugin.core.models.weights import text_instead_of_binary

INPUTS, OUTPUT = ("images", "modality"), "features"


def normalized(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """RGB in [0, 1] -> the normalised input the network was trained on (``data.norm_mean`` / ``data.norm_std``;
    what the graph does inside)."""
    return (images - images.new_tensor(mean).view(1, 3, 1, 1)) / images.new_tensor(std).view(1, 3, 1, 1)


class FeatureGraph(nn.Module):
    """``model`` in eval mode as ``(images in [0, 1], modality codes) -> unit-length retrieval features``, with the
    training config's normalisation inside."""

    def __init__(self, model: ReIDNet, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        super().__init__()
        if isinstance(model.backbone, DualPathNet) and len(model.backbone.pre) != 1:
            raise ValueError("a two-group TOP pretraining model cannot be deployed: merge it with tools/soup.py first")
        self.model, self.mean, self.std = model, tuple(mean), tuple(std)
        self.eval()  # the exporter restores the wrapper's own mode afterwards, recursively

    def forward(self, images: torch.Tensor, modality: torch.Tensor) -> torch.Tensor:
        backbone = self.model.backbone
        x = normalized(images, self.mean, self.std)
        if isinstance(backbone, DualPathNet):
            visible, infrared = backbone.stems[0](x), backbone.stems[1](x)  # maps, or tokens (ViT)
            x = torch.where((modality == 1).view(-1, *[1] * (visible.dim() - 1)), infrared, visible)
            features = backbone.forward_post(backbone.pre[0](x))
        else:  # one path for both modalities (the LightCNN baseline): the graph has no modality input
            features = backbone(x)
        return F.normalize(self.model.retrieval_features(features), dim=1)


def export_onnx(model: ReIDNet, path: str | Path, height: int, width: int, metadata: dict[str, str], opset: int = 17,
                mean=IMAGENET_MEAN, std=IMAGENET_STD):  # fmt: skip
    """Write ``FeatureGraph(model, mean, std)`` as ONNX with a dynamic batch; ``metadata`` goes into the file's
    properties (the input size and model name, which the search tool reads back) with the normalisation."""
    import onnx

    graph = FeatureGraph(model, mean, std)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    example = (torch.rand(2, 3, height, width), torch.tensor([0, 1]))
    dynamic = {name: {0: "batch"} for name in (*INPUTS, OUTPUT)}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)  # shape guards, constant at a fixed input size
        torch.onnx.export(graph, example, str(path), input_names=list(INPUTS), output_names=[OUTPUT],
                          dynamic_axes=dynamic, opset_version=opset, dynamo=False)  # fmt: skip
    proto = onnx.load(str(path))
    info = {"height": str(height), "width": str(width), "norm_mean": str(list(mean)), "norm_std": str(list(std)),
            **metadata}  # fmt: skip
    onnx.helper.set_model_props(proto, info)
    onnx.checker.check_model(proto)
    tmp = path.with_name(path.name + ".tmp")
    onnx.save(proto, str(tmp))
    tmp.replace(path)
    return path


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


def parity(model: ReIDNet, path: str | Path, height: int, width: int, batch: int = 4, seed: int = 0,
           mean=IMAGENET_MEAN, std=IMAGENET_STD) -> float:  # fmt: skip
    """Max |onnxruntime - PyTorch| over a mixed-modality batch of random images, PyTorch being the model's own
    eval path (``model(x, modality)``, then L2 normalisation) rather than the export wrapper; inf when either side
    is not finite."""
    generator = torch.Generator().manual_seed(seed)
    images = torch.rand(batch, 3, height, width, generator=generator)
    modality = torch.arange(batch) % 2
    with torch.no_grad():
        expected = F.normalize(model.eval()(normalized(images, mean, std), modality), dim=1).numpy()
    got = onnx_features(onnx_session(path), images.numpy(), modality.numpy())
    difference = np.abs(got - expected)
    return float(difference.max()) if np.isfinite(difference).all() else float("inf")  # NaN never passes

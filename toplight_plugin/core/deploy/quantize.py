"""INT8 graphs: an exported float32 graph quantised after training with NNCF, calibrated on a folder of images.

The file is QDQ ONNX (QuantizeLinear / DequantizeLinear pairs around each quantised operator), the one INT8 form
both onnxruntime and OpenVINO read. OpenVINO is the runtime for it: NNCF places quantisers where OpenVINO's CPU
kernels take them (the inputs of convolutions, additions and multiplications, not every output: about half as many
as onnxruntime's own static quantisation), with signed 8-bit activations where a tensor has negative values and
per-channel scales on the inputs of depthwise convolutions; onnxruntime runs such a file slower than the float32
graph (docs/deploy.md has the figures). Weights are signed 8-bit per output channel, activations 8-bit,
symmetric, over the min / max seen on the calibration images (NNCF's default for a per-tensor activation, the mean
of each image's min / max, clips the images with the largest activations: on the synthetic model of docs/deploy.md
one feature then fell to cosine 0.78 to float32), with NNCF's bias correction. The operators on pooled feature
vectors (the embedding layers, the BNNeck, the L2 normalisation) stay float: they cost next to nothing and their
rounding goes straight into the features. Each image is fed with its own modality, told by its colour (an infrared
camera writes grey); a graph made for one modality is calibrated on that modality's images only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from toplight_plugin.core.data.images import list_images
from toplight_plugin.core.deploy.embedder import coloured_images, load_batch
from toplight_plugin.core.deploy.export import BOTH, GRAPH_MODALITIES, save_onnx
from toplight_plugin.core.deploy.runtime import file_properties

READ_CHUNK = 64  # images decoded at a time while looking for the graph's modality


def calibration_set(folder: str | Path, height: int, width: int, modality: str, limit: int) -> tuple[np.ndarray, ...]:
    """(images N x 3 x H x W in [0, 1], modality codes): up to ``limit`` images under ``folder`` drawn in a seeded
    random order (a spread over its cameras and identities, not its first folders), only those of ``modality``
    unless it is the ``both`` graph's; images are read a chunk at a time until enough are found."""
    paths = list_images(folder)
    order = np.random.default_rng(0).permutation(len(paths))
    kept_images, kept_codes, found = [], [], 0
    for start in range(0, len(paths), READ_CHUNK):
        images = load_batch([paths[i] for i in order[start : start + READ_CHUNK]], height, width)
        codes = np.where(coloured_images(images), GRAPH_MODALITIES["visible"], GRAPH_MODALITIES["infrared"])
        keep = codes == GRAPH_MODALITIES[modality] if modality != BOTH else np.ones(len(codes), bool)
        kept_images.append(images[keep][: limit - found])
        kept_codes.append(codes[keep][: limit - found])
        found += len(kept_codes[-1])
        if found == limit:
            break
    if not found:
        raise ValueError(f"--calibrate {folder}: none of its {len(paths)} images is {modality} (infrared images "
                         "are grey, visible ones coloured); give images of the graph's modality")  # fmt: skip
    return np.concatenate(kept_images), np.concatenate(kept_codes).astype(np.int64)


def vector_tail(model) -> list[str]:
    """Names of the nodes whose every computed input is a vector per image (rank <= 2): what follows pooling."""
    ranks = {v.name: len(v.type.tensor_type.shape.dim) for v in (*model.graph.value_info, *model.graph.input)}
    constants = {i.name for i in model.graph.initializer}
    tail = []
    for node in model.graph.node:
        computed = [name for name in node.input if name and name not in constants and name in ranks]
        if computed and all(ranks[name] <= 2 for name in computed):
            tail.append(node.name)
    return tail


def quantize_int8(source: str | Path, output: str | Path, folder: str | Path, limit: int = 300) -> dict[str, str]:
    """Write the INT8 QDQ form of the float32 graph ``source`` to ``output``, calibrated on up to ``limit`` images
    under ``folder``; its metadata is the source's with ``precision`` int8 and what it was calibrated on."""
    info = file_properties(source)
    images, codes = calibration_set(folder, int(info["height"]), int(info["width"]), info.get("modality", BOTH), limit)
    counts = {m: int((codes == GRAPH_MODALITIES[m]).sum()) for m in ("visible", "infrared")}
    return quantize_on(source, output, images, codes, f"{len(images)} images under {folder} ({counts['visible']} "
                       f"visible, {counts['infrared']} infrared)")  # fmt: skip


def quantize_on(source: str | Path, output: str | Path, images: np.ndarray, codes: np.ndarray,
                calibration: str) -> dict[str, str]:  # fmt: skip
    """quantize_int8 on calibration arrays (images in [0, 1], modality codes) described by ``calibration``."""
    import nncf
    import onnx
    from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
    from nncf.quantization.range_estimator import RangeEstimatorParametersSet

    info = file_properties(source)
    if info.get("precision", "fp32") != "fp32":
        raise ValueError(f"{source}: already {info['precision']}; quantise the float32 graph toplight-export wrote")
    model = onnx.load(str(source))
    tail = vector_tail(onnx.shape_inference.infer_shapes(model))
    with_modality = info.get("modality", BOTH) == BOTH
    samples = nncf.Dataset(list(zip(images, codes, strict=True)), lambda sample: {"images": sample[0][None]}
                           | ({"modality": sample[1][None]} if with_modality else {}))  # fmt: skip
    nncf.set_log_level(logging.WARNING)
    quantised = nncf.quantize(
        model, samples, subset_size=len(images),
        ignored_scope=nncf.IgnoredScope(names=tail, validate=False),  # the folded graph lacks some (casts of shapes)
        advanced_parameters=AdvancedQuantizationParameters(
            activations_range_estimator_params=RangeEstimatorParametersSet.MINMAX),
    )  # fmt: skip
    info |= {"precision": "int8", "calibration": calibration}
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    save_onnx(quantised, output, info)
    return info


RANGE_IN_SIGMAS = 8.0  # a min / max over hundreds of images spans about +-4 standard deviations of a tensor


def expected_cosine(path: str | Path) -> float:
    """The mean cosine to float32 that 8-bit rounding alone leaves an INT8 graph: each of its L quantised tensors
    adds uniform noise of variance step^2 / 12 with step = range / 255, i.e. (RANGE_IN_SIGMAS / 255)^2 / 12 of the
    tensor's variance; independent noises add up, and 1 - cos is half the relative noise variance at the output."""
    import onnx

    tensors = sum(node.op_type == "QuantizeLinear" for node in onnx.load(str(path)).graph.node)
    return 1.0 - tensors * (RANGE_IN_SIGMAS / 255) ** 2 / 24

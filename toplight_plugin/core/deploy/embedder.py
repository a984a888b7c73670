"""Features of image files from a PyTorch model or an exported ONNX graph, the same way for both."""

from __future__ import annotations

import abc
from pathlib import Path

import albumentations as A
import numpy as np
import torch

from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from toplight_plugin.core.deploy.export import GRAPH_MODALITIES, FeatureGraph
from toplight_plugin.core.deploy.runtime import GraphSession
from toplight_plugin.core.models.dual_path import INFRARED, VISIBLE
from toplight_plugin.core.models.heads import ReIDNet


def load_batch(paths: list[str | Path], height: int, width: int) -> np.ndarray:
    """Images as N x 3 x H x W float32 in [0, 1], resized as the test transform does."""
    resize = A.Resize(height, width)
    return np.stack([resize(image=np.asarray(read_image(str(p))))["image"].transpose(2, 0, 1) for p in paths]).astype(
        np.float32
    ) / np.float32(255)


COLOUR = 0.02  # mean |max - min channel| of an image in [0, 1]: above it, not the grey an infrared camera writes


def coloured_images(images: np.ndarray) -> np.ndarray:
    """Per image of a batch (N x 3 x H x W in [0, 1]): whether its channels differ (a visible image, not infrared)."""
    return (images.max(axis=1) - images.min(axis=1)).mean(axis=(1, 2)) > COLOUR


class Embedder(abc.ABC):
    """``embedder(images, modality)`` -> unit-length features (N x D float32); ``height``/``width`` its input."""

    height: int
    width: int

    @abc.abstractmethod
    def run(self, images: np.ndarray, modality: np.ndarray) -> np.ndarray:
        """Features of a batch with one modality code per image."""

    def __call__(self, images: np.ndarray, modality: int) -> np.ndarray:
        return self.run(images, np.full(len(images), modality, dtype=np.int64))

    def embed_files(self, paths: list[str | Path], modality: int, batch_size: int = 32, progress=None,
                    coloured: list | None = None) -> np.ndarray:  # fmt: skip
        """Features of ``paths`` in order; ``progress`` (a tqdm bar) is advanced per image. Images given as infrared
        whose channels differ (visible ones, most likely) are appended to ``coloured`` when it is a list."""
        chunks = []
        for start in range(0, len(paths), batch_size):
            part = paths[start : start + batch_size]
            images = load_batch(part, self.height, self.width)
            if coloured is not None and modality == INFRARED:
                coloured += [path for path, flag in zip(part, coloured_images(images), strict=True) if flag]
            chunks.append(self(images, modality))
            if progress is not None:
                progress.update(len(part))
        return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)


class TorchEmbedder(Embedder):
    """A model with its training config's input size and normalisation."""

    def __init__(self, model: ReIDNet, height: int, width: int, mean=IMAGENET_MEAN, std=IMAGENET_STD):
        self.graph, self.height, self.width = FeatureGraph(model, mean, std), height, width

    @torch.no_grad()
    def run(self, images, modality):
        return self.graph(torch.from_numpy(images), torch.from_numpy(modality)).numpy()


class OnnxEmbedder(Embedder):
    """An exported graph under ``runtime`` at ``precision`` (core/deploy/runtime.py); its input size and the
    modality it serves come from the file's metadata (written by export_onnx)."""

    def __init__(self, path: str | Path, threads: int = 0, runtime: str = "onnxruntime", precision: str = "fp32"):
        self.session = GraphSession(path, runtime, precision, threads)
        self.path, self.metadata = Path(path), self.session.metadata
        meta = self.metadata
        if "height" not in meta or "width" not in meta:
            raise ValueError(f"{path}: no input size in its metadata; export it with toplight-export")
        self.height, self.width = int(meta["height"]), int(meta["width"])
        self.modality = GRAPH_MODALITIES.get(meta.get("modality", ""))  # None: a code per image

    def run(self, images, modality):
        if self.modality is not None and (modality != self.modality).any():
            served = next(k for k, v in GRAPH_MODALITIES.items() if v == self.modality)
            raise ValueError(f"{self.path}: a graph exported for {served} images only (toplight-export --modality "
                             f"{served}) was given images of the other modality; give that modality's graph or "
                             "one exported with --modality both")  # fmt: skip
        return self.session.run(images, modality)


def graph_embedders(paths: list[str | Path], threads: int = 0, runtime: str = "onnxruntime",
                    precision: str = "fp32") -> dict[int, OnnxEmbedder]:  # fmt: skip
    """{modality code: embedder} from one graph exported for both modalities or one graph per modality (a visible
    and an infrared one, as a camera box holds them), each serving the modality its metadata names."""
    embedders = [OnnxEmbedder(path, threads, runtime, precision) for path in paths]
    served: dict[int, OnnxEmbedder] = {}
    for embedder in embedders:
        for code in (VISIBLE, INFRARED) if embedder.modality is None else (embedder.modality,):
            if code in served:
                raise ValueError(f"{embedder.path} and {served[code].path} both serve "
                                 f"{'visible' if code == VISIBLE else 'infrared'} images; give one graph per "
                                 "modality or one exported with --modality both")  # fmt: skip
            served[code] = embedder
    if len(served) < 2:
        missing = "infrared" if VISIBLE in served else "visible"
        raise ValueError(f"{paths[0]} serves one modality; give the {missing} graph too (toplight-export "
                         f"--modality {missing})")  # fmt: skip
    return served

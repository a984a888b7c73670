"""Feature extraction with a modality per image: torchreid's ``FeatureExtractor`` interface, each image routed to
its own stem.

torchreid's ``utils.FeatureExtractor`` calls ``model(images)``, so a plugin model sends every image, infrared ones
included, through its visible stem; ``install`` makes it say so once (native.py installs it with the other hooks).
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Sequence

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image

from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.records import INFRARED, VISIBLE
from toplight_plugin.core.models.heads import TRAINING_ONLY
from toplight_plugin.core.models.registry import build

from . import compat

MARK = "_toplight_hook"
STOCK_WARNING = (
    "{name} in torchreid's FeatureExtractor: it calls model(images) without modalities, so every image, infrared "
    "ones too, goes through the visible stem; use toplight_plugin.FeatureExtractor(...)(images, modality)"
)
WARNED: set[str] = set()  # model names the stock extractor has warned about in this process


class FeatureExtractor:
    """``FeatureExtractor(model_name, model_path, image_size, ...)(images, modality)`` -> (N, D) features.

    ``images`` as torchreid's takes them: a path, an RGB ``numpy`` array (H, W, 3), a list of these, or a
    preprocessed tensor (N, 3, H, W) / (3, H, W). ``modality``: 0 (visible) or 1 (infrared) for all of them, or one
    code per image. ``model`` (an nn.Module) replaces ``model_name`` / ``model_path``; without ``model_path`` the
    model starts from ImageNet weights, as torchreid's does.
    """

    def __init__(
        self,
        model_name: str = "",
        model_path: str = "",
        image_size: Sequence[int] = (256, 128),
        pixel_mean: Sequence[float] = (0.485, 0.456, 0.406),
        pixel_std: Sequence[float] = (0.229, 0.224, 0.225),
        pixel_norm: bool = True,
        device: str = "cuda" if torch.cuda.is_available() else "cpu",
        model: torch.nn.Module | None = None,
    ):
        if model is None:
            height, width = image_size
            model = build(model_name, 1, pretrained=model_path or True, allow_missing=TRAINING_ONLY, height=height,
                          width=width)  # fmt: skip
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        steps = [T.Resize(tuple(image_size)), T.ToTensor()]
        self.preprocess = T.Compose(steps + ([T.Normalize(pixel_mean, pixel_std)] if pixel_norm else []))

    def _image(self, element) -> torch.Tensor:
        if isinstance(element, str):
            return self.preprocess(read_image(element))  # upright as its EXIF orientation says, 16-bit scaled
        if isinstance(element, np.ndarray):
            return self.preprocess(Image.fromarray(element).convert("RGB"))
        raise TypeError(f"each image must be a path or a numpy array (H, W, 3), got {type(element).__name__}")

    def __call__(self, images, modality: int | Sequence[int] | torch.Tensor) -> torch.Tensor:
        if isinstance(images, torch.Tensor):
            batch = images.unsqueeze(0) if images.dim() == 3 else images
        else:
            batch = torch.stack([self._image(e) for e in (images if isinstance(images, list) else [images])])
        codes = torch.as_tensor(modality, dtype=torch.long).flatten()
        if codes.numel() == 1:
            codes = codes.expand(len(batch))
        if codes.numel() != len(batch):
            raise ValueError(f"modality: {codes.numel()} codes for {len(batch)} images (give one, or one per image)")
        if bool(((codes != VISIBLE) & (codes != INFRARED)).any()):
            raise ValueError(f"modality codes must be {VISIBLE} (visible) or {INFRARED} (infrared), "
                             f"got {sorted(set(codes.tolist()))}")  # fmt: skip
        with torch.no_grad():
            return self.model(batch.to(self.device), codes.to(self.device))


def install(is_plugin_model) -> None:
    """torchreid's ``FeatureExtractor`` warns, once per model name and process, when it built a plugin model."""
    stock = compat.torchreid().utils.FeatureExtractor
    if getattr(stock.__init__, MARK, False):
        return
    stock_init = stock.__init__

    @functools.wraps(stock_init)
    def __init__(self, *args, **kwargs):
        stock_init(self, *args, **kwargs)
        name = kwargs.get("model_name", args[0] if args else "")
        if is_plugin_model(self.model) and name not in WARNED:
            WARNED.add(name)
            message = STOCK_WARNING.format(name=name)
            print(f"** {message}")
            warnings.warn(message, stacklevel=2)

    setattr(__init__, MARK, True)
    stock.__init__ = __init__

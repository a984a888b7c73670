"""Task-oriented augmentations of the pretraining (§3.2, Fig. 3, Table 2b), with albumentations.

One source image gives two views. Generic augmentations on both paths: random crop (p 0.5) and horizontal flip
(p 0.5), deformation (p 0.2). Colour, path 1 (Block1-1): one of colour jitter, channel shuffle, RGB shift, picked at
random for each sample. Texture, path 2 (Block1-2): JPEG compression (p 0.2), defocus (p 0.2), sharpen + grayscale
(p 1). Each path draws its own generic augmentation (the two views are not pixel-aligned, like a visible and an
infrared picture of one person); "deformation" is an elastic transform, "random crop" a resized crop keeping 50-100 %
of the area. These two readings of Table 2b are ours.
"""

from __future__ import annotations

import albumentations as A
import numpy as np
from albumentations.pytorch import ToTensorV2

from toplight_plugin.core.transforms import IMAGENET_MEAN, IMAGENET_STD, reseed


def _generic(height: int, width: int) -> list:
    return [
        A.Resize(height, width),
        A.RandomResizedCrop(size=(height, width), scale=(0.5, 1.0), p=0.5),
        A.HorizontalFlip(p=0.5),
        A.ElasticTransform(p=0.2),
    ]


def colour_steps() -> list:
    return [A.OneOf([A.ColorJitter(p=1.0), A.ChannelShuffle(p=1.0), A.RGBShift(p=1.0)], p=1.0)]


def texture_steps() -> list:
    return [A.ImageCompression(p=0.2), A.Defocus(p=0.2), A.Sharpen(p=1.0), A.ToGray(num_output_channels=3, p=1.0)]


class TaskOrientedAugment:
    """``augment(image) -> (view1, view2)``, CHW float tensors; ``task_oriented=False`` keeps the generic steps only
    (Table 3 row 2)."""

    def __init__(self, height: int = 224, width: int = 224, task_oriented: bool = True, normalise: bool = True,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD):  # fmt: skip
        tail = [A.Normalize(mean, std), ToTensorV2()] if normalise else []
        colour, texture = (colour_steps(), texture_steps()) if task_oriented else ([], [])
        self.paths = [
            A.Compose([*_generic(height, width), *colour, *tail]),
            A.Compose([*_generic(height, width), *texture, *tail]),
        ]
        self._seeded_with = None

    def __call__(self, image: np.ndarray):
        self._seeded_with = reseed(self.paths, self._seeded_with)
        return tuple(path(image=image)["image"] for path in self.paths)

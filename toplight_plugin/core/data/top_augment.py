"""Task-oriented augmentations of the pretraining (§3.2, Fig. 3, Table 2b), with albumentations.

One source image gives two views. Generic augmentations on both paths: random crop (p 0.5) and horizontal flip
(p 0.5), deformation (p 0.2). Colour, path 1 (Block1-1): one of colour jitter, channel shuffle, RGB shift, picked at
random for each sample. Texture, path 2 (Block1-2): JPEG compression (p 0.2), defocus (p 0.2), sharpen + grayscale
(p 1). Each path draws its own generic augmentation (the two views are not pixel-aligned, like a visible and an
infrared picture of one person). The parameters the paper leaves open are ours, chosen so that each step visibly
acts at the working size (docs/pretraining.md lists them beside Table 2b, tests/test_top_augment.py measures them):

- every image is first scaled, aspect kept, until it covers the working size, and centre-cropped to it (no squash);
- "random crop": a resized crop of 50-100 % of that area, aspect within 3/4-4/3 of the working one;
- "deformation": an elastic transform whose displacement field has a mean of about 2.5 % of the image height at
  any working size (sigma = height / 25, alpha = 0.012 height²); albumentations' defaults move pixels by a
  fraction of one;
- "compression": JPEG at quality 10-40 ("terrible imaging quality"; the library default is 99-100).
"""

from __future__ import annotations

import albumentations as A
import numpy as np
from albumentations.pytorch import ToTensorV2

from toplight_plugin.core.data.transforms import IMAGENET_MEAN, IMAGENET_STD, reseed, writable

CROP_SCALE = (0.5, 1.0)
JPEG_QUALITY = (10, 40)


def fit(height: int, width: int) -> list:
    """Scale with the aspect kept until the image covers ``height`` x ``width``, then take the centre."""
    return [A.SmallestMaxSize(max_size_hw=(height, width)), A.CenterCrop(height, width)]


def deformation(height: int, p: float = 1.0) -> A.ElasticTransform:
    return A.ElasticTransform(alpha=0.012 * height * height, sigma=height / 25, border_mode=1, p=p)


def generic_steps(height: int, width: int) -> list:
    aspect = width / height
    return [
        *fit(height, width),
        A.RandomResizedCrop(size=(height, width), scale=CROP_SCALE, ratio=(aspect * 3 / 4, aspect * 4 / 3), p=0.5),
        A.HorizontalFlip(p=0.5),
        deformation(height, p=0.2),
    ]


def colour_steps() -> list:
    return [A.OneOf([A.ColorJitter(p=1.0), A.ChannelShuffle(p=1.0), A.RGBShift(p=1.0)], p=1.0)]


def texture_steps() -> list:
    return [
        A.ImageCompression(quality_range=JPEG_QUALITY, p=0.2),
        A.Defocus(p=0.2),
        A.Sharpen(p=1.0),
        A.ToGray(num_output_channels=3, p=1.0),
    ]


class TaskOrientedAugment:
    """``augment(image) -> (view1, view2)``, CHW float tensors; ``task_oriented=False`` keeps the generic steps only
    (Table 3 row 2); ``views=1`` gives one generic view, what standard pretraining (SP) trains on. ``on_device``:
    uint8 tensors, normalised on the training device (core.data.device_normalize); ``normalise=False``: the
    uint8 arrays themselves (pictures)."""

    def __init__(self, height: int = 224, width: int = 224, task_oriented: bool = True, normalise: bool = True,
                 mean=IMAGENET_MEAN, std=IMAGENET_STD, views: int = 2, on_device: bool = False):  # fmt: skip
        if views not in (1, 2) or (views == 1 and task_oriented):
            raise ValueError(f"views must be 2, or 1 without the task-oriented steps; got {views}, {task_oriented}")
        self.height, self.width, self.on_device = height, width, on_device
        tail = ([] if on_device else [A.Normalize(mean, std)]) + [ToTensorV2()] if normalise else []
        colour, texture = (colour_steps(), texture_steps()) if task_oriented else ([], [])
        self.paths = [
            A.Compose([*generic_steps(height, width), *colour, *tail]),
            A.Compose([*generic_steps(height, width), *texture, *tail]),
        ][:views]
        self._seeded_with = None

    def __call__(self, image: np.ndarray):
        self._seeded_with = reseed(self.paths, self._seeded_with)
        image = writable(image) if self.on_device else image
        return tuple(path(image=image)["image"] for path in self.paths)

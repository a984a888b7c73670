"""Visible-infrared training and test transforms (albumentations), with CAJ's channel augmentations.

CAJ (Ye et al., ICCV 2021, public code ``ICCV21_CAJ/ChannelAug.py`` and ``data_loader.py``) applies, after
normalisation: random erasing (its ``ChannelRandomErasing``: p 0.5, area 2-40 %, aspect 0.3-3.3, the rectangle
filled with the constants 0.4914 / 0.4822 / 0.4465), on visible images the channel exchange (all channels replaced
by one of R, G, B, equally likely) and on infrared images the adaptive gray (one of R, G, B copied to all channels,
or with probability 1/4 x 0.5 grayscale 0.2989 R + 0.5870 G + 0.1140 B, else unchanged). Each is reproduced here as
an albumentations transform with the same draws; ``ModalityAugment`` switches them per modality.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import albumentations as A
import numpy as np
import torch
from albumentations.pytorch import ToTensorV2

from toplight_plugin.core.data.device_normalize import NONE, DeviceNormalize
from toplight_plugin.core.data.records import INFRARED, VISIBLE

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
CAJ_ERASE_FILL = (0.4914, 0.4822, 0.4465)
GRAY_WEIGHTS = (0.2989, 0.5870, 0.1140)
# steps that draw nothing (their seeds do not matter)
FIXED_STEPS = (A.Resize, A.PadIfNeeded, A.SmallestMaxSize, A.CenterCrop, A.Normalize, ToTensorV2)


class RandomErasing(A.ImageOnlyTransform):
    """Random erasing: up to 100 draws of a rectangle that fits (area 2-40 %, aspect 0.3-3.3), filled with ``fill``.

    ``fill`` a tuple: one constant per channel, as CAJ's ``ChannelRandomErasing`` (the paper's "channel erasing",
    CE [40]) and torchreid's code do. ``fill="random"``: every erased value drawn uniformly over the pixel range and
    normalised with ``mean`` / ``std``, as Zhong et al.'s paper describes random erasing (RE [49]).
    """

    def __init__(self, area=(0.02, 0.4), min_aspect=0.3, fill=CAJ_ERASE_FILL, p=0.5, mean=IMAGENET_MEAN,
                 std=IMAGENET_STD, record=False):  # fmt: skip
        super().__init__(p=p)
        self.area, self.min_aspect = tuple(area), min_aspect
        self.fill = fill if fill == "random" else tuple(fill)
        if record and self.fill == "random":
            raise ValueError("random-value erasing acts on uint8 images itself; only constant fills are recorded")
        self.record, self.drawn = record, None  # drawn: the box, device_normalize's columns 0-3
        self.mean, self.std = np.asarray(mean, dtype=np.float32), np.asarray(std, dtype=np.float32)

    def get_params_dependent_on_data(self, params, data):
        height, width = params["shape"][:2]
        rnd = self.py_random
        for _ in range(100):
            target = rnd.uniform(*self.area) * height * width
            aspect = rnd.uniform(self.min_aspect, 1 / self.min_aspect)
            h, w = round(math.sqrt(target * aspect)), round(math.sqrt(target / aspect))
            if w < width and h < height:
                box = (rnd.randint(0, height - h), rnd.randint(0, width - w), h, w)
                values = None
                if self.fill == "random":
                    channels = params["shape"][2] if len(params["shape"]) == 3 else 1
                    values = self.random_generator.uniform(size=(h, w, channels)).astype(np.float32)
                return {"box": box, "values": values}
        return {"box": None, "values": None}

    def apply(self, img, box=None, values=None, **params):
        if box is None:
            return img
        if self.record:  # applied after normalisation, on the device (core.data.device_normalize)
            self.drawn = tuple(box)
            return img
        top, left, h, w = box
        out = img.copy()
        if values is not None and out.dtype == np.uint8:  # before normalisation: the values on the pixel scale
            fill = np.rint(values * 255).astype(np.uint8)
            fill = fill if out.ndim == 3 else fill[..., 0]
        elif values is not None:
            channels = values.shape[2]
            fill = (values - self.mean[:channels]) / self.std[:channels]
            fill = fill.astype(out.dtype) if out.ndim == 3 else fill[..., 0].astype(out.dtype)
        else:
            fill = np.asarray(self.fill[: out.shape[2]] if out.ndim == 3 else self.fill[0], dtype=out.dtype)
        out[top : top + h, left : left + w] = fill
        return out


def _gray(img: np.ndarray) -> np.ndarray:
    return (img[..., :3] * np.asarray(GRAY_WEIGHTS, dtype=img.dtype)).sum(axis=-1)


class ChannelExchange(A.ImageOnlyTransform):
    """Visible images: every channel replaced by one of R, G, B (``gray=3`` adds grayscale as a fourth choice).
    ``record``: the choice is kept in ``drawn`` and applied on the device."""

    def __init__(self, gray: int = 2, p: float = 1.0, record: bool = False):
        super().__init__(p=p)
        self.gray, self.record, self.drawn = gray, record, None

    def get_params(self):
        return {"choice": self.py_random.randint(0, self.gray)}

    def apply(self, img, choice=0, **params):
        if self.record:
            self.drawn = (choice,)
            return img
        plane = img[..., choice] if choice < 3 else _gray(img)
        return np.repeat(plane[..., None], img.shape[2], axis=2)


class ChannelAdaptiveGray(A.ImageOnlyTransform):
    """Infrared images: one of R, G, B copied to all channels (3/4), else grayscale with ``gray_p``, else unchanged."""

    def __init__(self, gray_p: float = 0.5, p: float = 1.0, record: bool = False):
        super().__init__(p=p)
        self.gray_p, self.record, self.drawn = gray_p, record, None

    def get_params(self):
        choice = self.py_random.randint(0, 3)
        return {"choice": choice, "to_gray": choice == 3 and self.py_random.uniform(0, 1) <= self.gray_p}

    def apply(self, img, choice=0, to_gray=False, **params):
        if self.record:  # 0-2: that channel, 3: grayscale, -1: unchanged
            self.drawn = (choice if choice < 3 else 3 if to_gray else -1,)
            return img
        if choice < 3:
            plane = img[..., choice]
        elif to_gray:
            plane = _gray(img)
        else:
            return img
        return np.repeat(plane[..., None], img.shape[2], axis=2)


@dataclass(frozen=True)
class AugmentOptions:
    """Training augmentation of one modality; probabilities, 0 switches a step off."""

    flip: float = 0.5
    pad: int = 10  # zero padding before the random crop back to size (CAJ); 0 = no crop
    random_erasing: float = 0.5  # rectangle filled with per-channel constants (CAJ's; the paper's CE)
    random_value_erasing: float = 0.0  # rectangle filled with random values (the paper's RE)
    channel_exchange: float = 0.0  # visible: CAJ trains half its visible views with it
    channel_gray: float = 0.0  # infrared: CAJ applies ChannelAdapGray(0.5) to every view
    gray_p: float = 0.5


CAJ_VISIBLE = AugmentOptions(channel_exchange=0.5)
CAJ_INFRARED = AugmentOptions(channel_gray=1.0)
FLIP_ONLY = AugmentOptions(pad=0, random_erasing=0.0)
PAD_CROP = AugmentOptions(random_erasing=0.0)
PAPER = AugmentOptions(pad=0, random_value_erasing=0.5)  # §4.1 / Table 2a: "RE, CE, Flip" (docs/training.md)

# toplight.augment name -> (visible, infrared) options
PRESETS: dict[str, tuple[AugmentOptions, AugmentOptions]] = {
    "paper": (PAPER, PAPER),  # resize, flip, random erasing with random values and with channel constants
    "caj": (CAJ_VISIBLE, CAJ_INFRARED),  # CAJ's channel augmentations on top of "basic"
    "basic": (AugmentOptions(), AugmentOptions()),  # resize, pad-crop, flip, random erasing
    "pad_crop": (PAD_CROP, PAD_CROP),  # resize, pad-crop, flip: DDAG's training code
    "flip": (FLIP_ONLY, FLIP_ONLY),  # resize and flip: short from-scratch runs (docs/learning.md)
}


# the columns of core.data.device_normalize's numbers each recording step fills
RECORDED = {RandomErasing: slice(0, 4), ChannelExchange: slice(4, 5), ChannelAdaptiveGray: slice(5, 6)}


def train_transform(options: AugmentOptions, height: int = 288, width: int = 144, mean=IMAGENET_MEAN,
                    std=IMAGENET_STD, on_device: bool = False) -> A.Compose:  # fmt: skip
    """Resize, pad + random crop, flip, normalise (``data.norm_mean`` / ``data.norm_std``; ImageNet's unless the
    config says otherwise), erasing and channel augmentation, to a CHW tensor. ``on_device``: a uint8 tensor,
    random-value erasing done on the pixel scale (its values rounded to whole levels), normalisation and the later
    steps drawn here and applied on the device (core.data.device_normalize)."""
    steps = [A.Resize(height, width)]
    if options.pad:
        steps += [
            A.PadIfNeeded(height + 2 * options.pad, width + 2 * options.pad, border_mode=0, fill=0),
            A.RandomCrop(height, width),
        ]
    steps += [A.HorizontalFlip(p=options.flip), *([] if on_device else [A.Normalize(mean, std)])]
    if options.random_value_erasing:
        steps.append(RandomErasing(fill="random", p=options.random_value_erasing, mean=mean, std=std))
    if options.random_erasing:
        steps.append(RandomErasing(p=options.random_erasing, record=on_device))
    if options.channel_exchange:
        steps.append(ChannelExchange(p=options.channel_exchange, record=on_device))
    if options.channel_gray:
        steps.append(ChannelAdaptiveGray(gray_p=options.gray_p, p=options.channel_gray, record=on_device))
    return A.Compose([*steps, ToTensorV2()])


def device_normalize(mean=IMAGENET_MEAN, std=IMAGENET_STD) -> DeviceNormalize:
    """What completes an ``on_device`` pipeline's batch on the training device, with these pipelines' erasing
    fill and grayscale weights."""
    return DeviceNormalize(mean, std, CAJ_ERASE_FILL, GRAY_WEIGHTS)


def test_transform(height: int = 288, width: int = 144, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> A.Compose:
    return A.Compose([A.Resize(height, width), A.Normalize(mean, std), ToTensorV2()])


class ModalityAugment:
    """One pipeline per modality: ``augment(image, modality)`` with ``image`` an RGB uint8 HWC array.

    The pipelines are reseeded from ``torch.initial_seed()`` whenever it changes: per data-loader worker (distinct
    seeds) and per epoch when the trainer seeds each epoch, so augmentation replays exactly on resume.
    ``on_device`` (pipelines built with it): ``augment`` returns the uint8 tensor and its post-normalisation steps.
    """

    def __init__(self, visible: A.Compose, infrared: A.Compose, size: tuple[int, int] | None = None,
                 on_device: bool = False):  # fmt: skip
        self.pipelines = {VISIBLE: visible, INFRARED: infrared}
        self.size = size  # (height, width) the pipelines resize to, when known
        self.on_device = on_device
        # per modality, (step, its columns of the post-normalisation numbers) for the steps that record their draws
        self._recorders = {modality: [(step, RECORDED[type(step)]) for step in pipeline.transforms
                                      if getattr(step, "record", False)]
                           for modality, pipeline in self.pipelines.items()}  # fmt: skip
        self._seeded_with = None

    @classmethod
    def preset(cls, name: str, height: int = 288, width: int = 144, mean=IMAGENET_MEAN, std=IMAGENET_STD,
               on_device: bool = False) -> ModalityAugment:  # fmt: skip
        """A named pipeline pair of PRESETS."""
        if name not in PRESETS:
            raise ValueError(f"unknown augmentation preset {name!r}; expected one of {sorted(PRESETS)}")
        visible, infrared = PRESETS[name]
        pipelines = (train_transform(options, height, width, mean, std, on_device) for options in (visible, infrared))
        return cls(*pipelines, size=(height, width), on_device=on_device)

    def __call__(self, image: np.ndarray, modality: int):
        self._seeded_with = reseed(self.pipelines.values(), self._seeded_with)
        pipeline = self.pipelines[modality]
        if not self.on_device:
            return pipeline(image=image)["image"]
        for step, _ in self._recorders[modality]:
            step.drawn = None
        tensor = pipeline(image=writable(image))["image"]
        ops = list(NONE)
        for step, columns in self._recorders[modality]:
            if step.drawn is not None:
                ops[columns] = step.drawn
        return tensor, torch.tensor(ops, dtype=torch.int16)


def writable(image: np.ndarray) -> np.ndarray:
    """``image``, or its copy when read-only (a decoded PIL image): a uint8 pipeline may hand the array itself to
    torch, which cannot share read-only memory."""
    return image if image.flags.writeable else image.copy()


def reseed(pipelines, seeded_with: int | None) -> int:
    """Seed each albumentations pipeline from ``torch.initial_seed()`` when it changed since ``seeded_with``:
    distinct per data-loader worker, and per epoch when the trainer seeds each epoch. Returns the seed in use.

    albumentations gives every step of a pipeline the pipeline's seed, so steps that draw alike draw the same
    numbers: two erasings with one probability always fire together on one box, a flip and a deformation that
    each take one draw per image fire together. Here the k-th random step of pipeline p (of P) draws from
    seed + p + P k: a stream of its own, the first one the pipeline's.
    """
    seed = torch.initial_seed() % 2**32
    if seed != seeded_with:
        pipelines = list(pipelines)
        for offset, pipeline in enumerate(pipelines):
            pipeline.set_random_seed((seed + offset) % 2**32)
            random_steps = [step for step in pipeline.transforms if not isinstance(step, FIXED_STEPS)]
            for k, step in enumerate(random_steps):
                step.set_random_seed((seed + offset + len(pipelines) * k) % 2**32)
    return seed

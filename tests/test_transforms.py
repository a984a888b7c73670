"""CAJ channel augmentations and the per-modality pipelines do what they claim."""

import math

import numpy as np
import pytest
import torch

from toplight_plugin.core.data.transforms import (
    CAJ_ERASE_FILL,
    IMAGENET_MEAN,
    IMAGENET_STD,
    AugmentOptions,
    ChannelAdaptiveGray,
    ChannelExchange,
    ModalityAugment,
    RandomErasing,
    train_transform,
)


def _image(seed=0, shape=(48, 24, 3)):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def _outcome(out, img):
    if np.array_equal(out, img):
        return "same"
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    for c in range(3):
        if np.array_equal(out[..., 0], img[..., c]):
            return "rgb"[c]
    weights = np.array([0.2989, 0.5870, 0.1140], dtype=np.float32)
    # Three products and two additions in float32, in any order: each result within 3 ulps of the sum of the
    # terms' magnitudes (a few 1e-7 here), whatever the CPU's summation order or fused multiply-adds.
    bound = 3 * np.finfo(np.float32).eps * (np.abs(img) @ weights)
    assert np.all(np.abs(out[..., 0] - img @ weights) <= bound)
    return "gray"


def _frequencies(transform, draws=4000):
    transform.set_random_seed(0)
    img = _image()
    counts = {}
    for _ in range(draws):
        key = _outcome(transform(image=img)["image"], img)
        counts[key] = counts.get(key, 0) + 1
    return {k: v / draws for k, v in counts.items()}


def test_channel_exchange_picks_one_channel_uniformly():
    freq = _frequencies(ChannelExchange())
    assert set(freq) == {"r", "g", "b"}
    assert all(abs(f - 1 / 3) < 0.03 for f in freq.values())


def test_channel_adaptive_gray_matches_caj_probabilities():
    freq = _frequencies(ChannelAdaptiveGray(gray_p=0.5))
    expected = {"r": 0.25, "g": 0.25, "b": 0.25, "gray": 0.125, "same": 0.125}
    assert set(freq) == set(expected)
    assert all(abs(freq[k] - expected[k]) < 0.03 for k in expected)


def test_random_erasing_fills_one_rectangle_within_the_area_range():
    erase = RandomErasing(p=1.0)
    erase.set_random_seed(0)
    img = _image(shape=(288, 144, 3))
    for _ in range(50):
        out = erase(image=img)["image"]
        changed = np.any(out != img, axis=2)
        rows, cols = np.nonzero(changed)
        box = np.zeros_like(changed)
        box[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
        assert np.array_equal(changed, box)  # one axis-aligned rectangle
        assert 0.02 * 0.9 <= changed.mean() <= 0.4 * 1.1
        # the fill is stored, not computed: equal to its float32 values exactly, on any CPU
        fill = np.asarray(CAJ_ERASE_FILL, dtype=out.dtype)
        np.testing.assert_array_equal(out[changed], np.broadcast_to(fill, (changed.sum(), 3)))


def test_random_value_erasing_fills_the_rectangle_with_normalised_uniform_values():
    """The paper's RE: values drawn over the pixel range [0, 1], then normalised like the image."""
    erase = RandomErasing(fill="random", p=1.0)
    erase.set_random_seed(1)
    img = _image(shape=(288, 144, 3))
    values = []
    for _ in range(20):
        out = erase(image=img)["image"]
        changed = np.any(out != img, axis=2)
        assert 0.02 * 0.9 <= changed.mean() <= 0.4 * 1.1
        values.append(out[changed] * np.asarray(IMAGENET_STD) + np.asarray(IMAGENET_MEAN))
    pixels = np.concatenate(values)
    # float32 normalise / un-normalise round trip: a few ulps of values below 3
    assert pixels.min() >= -1e-5 and pixels.max() <= 1 + 1e-5
    assert abs(pixels.mean() - 0.5) < 0.02 and abs(pixels.std() - math.sqrt(1 / 12)) < 0.02  # uniform


def test_pipelines_per_modality():
    augment = ModalityAugment.preset("caj", height=64, width=32)
    rgb = np.random.default_rng(1).integers(0, 255, (128, 64, 3), dtype=np.uint8)
    for modality in (0, 1):
        out = augment(rgb, modality)
        assert isinstance(out, torch.Tensor) and out.shape == (3, 64, 32) and out.dtype == torch.float32
    names = {m: [type(t).__name__ for t in augment.pipelines[m].transforms] for m in (0, 1)}
    assert "ChannelExchange" in names[0] and "ChannelAdaptiveGray" not in names[0]
    assert "ChannelAdaptiveGray" in names[1] and "ChannelExchange" not in names[1]


def test_options_switch_steps_off_and_flip_flips():
    rgb = np.random.default_rng(2).integers(0, 255, (64, 32, 3), dtype=np.uint8)
    plain = AugmentOptions(flip=0.0, pad=0, random_erasing=0.0)
    flipped = AugmentOptions(flip=1.0, pad=0, random_erasing=0.0)
    a = train_transform(plain, 64, 32)(image=rgb)["image"]
    b = train_transform(flipped, 64, 32)(image=rgb)["image"]
    assert [type(t).__name__ for t in train_transform(plain, 64, 32).transforms] == [
        "Resize",
        "HorizontalFlip",
        "Normalize",
        "ToTensorV2",
    ]
    torch.testing.assert_close(b, a.flip(-1))


def test_presets_name_their_steps():
    steps = {name: [type(t).__name__ for t in ModalityAugment.preset(name, 64, 32).pipelines[0].transforms]
             for name in ("caj", "basic", "flip", "paper")}  # fmt: skip
    assert steps["flip"] == ["Resize", "HorizontalFlip", "Normalize", "ToTensorV2"]
    assert steps["paper"] == ["Resize", "HorizontalFlip", "Normalize", "RandomErasing", "RandomErasing", "ToTensorV2"]
    fills = [t.fill for t in ModalityAugment.preset("paper", 64, 32).pipelines[1].transforms[3:5]]
    assert fills == ["random", CAJ_ERASE_FILL]  # RE, then CE, on both modalities
    assert {"RandomCrop", "RandomErasing"} <= set(steps["basic"]) and "ChannelExchange" not in steps["basic"]
    assert "ChannelExchange" in steps["caj"]
    with pytest.raises(ValueError, match="unknown augmentation preset 'strong'"):
        ModalityAugment.preset("strong", 64, 32)


@pytest.mark.parametrize("gray", [2, 3])
def test_channel_exchange_gray_option(gray):
    assert ("gray" in _frequencies(ChannelExchange(gray=gray), draws=400)) == (gray == 3)

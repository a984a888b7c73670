"""Task-oriented augmentations: path 2 is gray, path 1 keeps the structure and changes the colour."""

import albumentations as A
import numpy as np
import pytest

from toplight_plugin.core.data.top_augment import JPEG_QUALITY, TaskOrientedAugment, colour_steps, deformation, fit


def _picture(seed=0):
    """Coloured blocks and stripes: strong edges, distinct channels."""
    rng = np.random.default_rng(seed)
    image = np.zeros((64, 64, 3), np.uint8)
    for _ in range(12):
        top, left = rng.integers(0, 48, 2)
        image[top : top + 16, left : left + 16] = rng.integers(0, 255, 3)
    image[::8] = (255, 255, 255)
    return image


def _edges(image):
    gray = image.astype(float).sum(axis=2)
    return np.abs(np.diff(gray, axis=0))[:, :-1] + np.abs(np.diff(gray, axis=1))[:-1]


def test_path_two_is_gray_and_both_views_have_the_requested_size():
    augment = TaskOrientedAugment(48, 40, normalise=False)
    for seed in range(20):
        v1, v2 = augment(_picture(seed))
        assert v1.shape == v2.shape == (48, 40, 3)
        assert np.array_equal(v2[..., 0], v2[..., 1]) and np.array_equal(v2[..., 1], v2[..., 2])


def test_colour_path_keeps_structure_and_changes_colour():
    colour = A.Compose(colour_steps())
    colour.set_random_seed(0)
    changed = 0
    for seed in range(40):
        image = _picture(seed)
        out = colour(image=image)["image"]
        # A channel shuffle may draw the identity order (1 in 6), so not every draw changes the colours.
        changed += np.abs(out.astype(int) - image.astype(int)).mean() > 1
        correlation = np.corrcoef(_edges(image).ravel(), _edges(out).ravel())[0, 1]
        assert correlation > 0.6  # the edges stayed where they were
    assert changed >= 30


def test_generic_only_mode_keeps_colour():
    augment = TaskOrientedAugment(64, 64, task_oriented=False, normalise=False)
    v1, v2 = augment(_picture(3))
    assert not np.array_equal(v2[..., 0], v2[..., 1])  # no grayscale on path 2
    assert {type(t).__name__ for t in augment.paths[0].transforms} == {
        "SmallestMaxSize", "CenterCrop", "RandomResizedCrop", "HorizontalFlip", "ElasticTransform"
    }  # fmt: skip


def test_show_augs_writes_the_grid(tmp_path):
    from PIL import Image

    from toplight_plugin.cli.show_augs import main
    from toplight_plugin.core.data.synthetic import make_imagefolder

    root = make_imagefolder(tmp_path / "if", num_classes=2, images_per_class=2, size=(64, 64))
    output = main(["--folder", str(root), "--count", "3", "--size", "64", "--output", str(tmp_path / "augs.png")])
    with Image.open(output) as picture:
        assert picture.format == "PNG" and picture.size == (600, 600)  # 3 rows x 3 columns at 2 inches, 100 dpi


def _gray_picture(seed=0):
    return np.repeat(_picture(seed).mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2)


def _mean_change(transform, pictures):
    transform.set_random_seed(0)
    return float(np.mean([np.abs(transform(image=p)["image"].astype(float) - p).mean() for p in pictures]))


@pytest.mark.parametrize("height", [64, 128, 224])
def test_deformation_moves_pixels_by_a_visible_fraction_of_the_height(height):
    """Each output pixel of a coordinate image holds where it came from: the displacement field itself."""
    width = height // 2
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float32)
    coordinates = np.stack([rows, cols, np.zeros_like(rows)], axis=-1)
    transform = deformation(height)
    transform.set_random_seed(0)
    inner = (slice(height // 8, -height // 8), slice(width // 8, -width // 8))
    moved = [np.hypot(*(transform(image=coordinates)["image"][..., :2] - coordinates[..., :2])[inner].T)
             for _ in range(8)]  # fmt: skip
    mean = float(np.mean(moved)) / height
    assert 0.015 < mean < 0.05, mean  # albumentations' default (alpha 1, sigma 50) moves pixels by under 1 %


def test_compression_degrades_and_every_texture_and_colour_step_changes_the_image():
    pictures = [_gray_picture(seed) for seed in range(10)]
    ours = _mean_change(A.ImageCompression(quality_range=JPEG_QUALITY, p=1), pictures)
    near_lossless = _mean_change(A.ImageCompression(quality_range=(95, 100), p=1), pictures)
    assert ours > 4 and ours > 3 * near_lossless, (ours, near_lossless)
    for step in (A.Defocus(p=1), A.Sharpen(p=1)):
        assert _mean_change(step, pictures) > 4, step
    colour = [_picture(seed) for seed in range(10)]
    for step in colour_steps()[0].transforms:
        assert _mean_change(step, colour) > 4, step


def test_no_squash_before_the_crop():
    """Vertical stripes 10 px wide on a 50 x 200 image, fitted into 64 x 64: scaled by 64 / 50, not squashed by
    64 / 200 across."""
    stripes = np.repeat(((np.arange(200) // 10) % 2 * 255).astype(np.uint8)[None, :, None], 3, axis=2)
    image = np.repeat(stripes, 50, axis=0)
    out = A.Compose(fit(64, 64))(image=image)["image"][32, :, 0] > 127
    edges = np.flatnonzero(np.diff(out.astype(int)))
    assert out.shape == (64,) and len(edges) >= 3
    np.testing.assert_allclose(np.diff(edges).mean(), 12.8, atol=1.0)

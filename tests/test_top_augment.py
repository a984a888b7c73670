"""Task-oriented augmentations: path 2 is gray, path 1 keeps the structure and changes the colour."""

import albumentations as A
import numpy as np

from toplight_plugin.core.top_augment import TaskOrientedAugment, colour_steps


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
        "Resize", "RandomResizedCrop", "HorizontalFlip", "ElasticTransform"
    }  # fmt: skip


def test_show_augs_writes_the_grid(tmp_path):
    from PIL import Image

    from toplight_plugin.cli.show_augs import main
    from toplight_plugin.core.synthetic import make_imagefolder

    root = make_imagefolder(tmp_path / "if", num_classes=2, images_per_class=2, size=(64, 64))
    output = main(["--folder", str(root), "--count", "3", "--size", "64", "--output", str(tmp_path / "augs.png")])
    with Image.open(output) as picture:
        assert picture.format == "PNG" and picture.size == (600, 600)  # 3 rows x 3 columns at 2 inches, 100 dpi

"""The hand-made matchers: what they compare, and that the synthetic set gives them nothing to match on."""

import numpy as np
import pytest
import torch

from toplight_plugin.core.analysis.matchers import CHANCE, histogram_features, matcher_extractor, pixel_features
from toplight_plugin.core.data.synthetic import make_sysu
from toplight_plugin.core.data.transforms import IMAGENET_MEAN, IMAGENET_STD


def test_pixel_matcher_is_normalised_cross_correlation():
    images = torch.rand(3, 3, 64, 32)
    f = pixel_features(images)
    assert f.shape == (3, 32 * 16) and torch.allclose(f.norm(dim=1), torch.ones(3), atol=1e-5)
    brighter = pixel_features(images * 0.5 + 0.25)  # gain and offset leave the correlation unchanged
    assert torch.allclose(f, brighter, atol=1e-5)


def test_histogram_ignores_where_colours_are():
    images = torch.rand(2, 3, 16, 8)
    shuffled = images.flatten(2)[:, :, torch.randperm(128)].view_as(images)
    assert torch.allclose(histogram_features(images), histogram_features(shuffled), atol=1e-6)
    assert histogram_features(images).shape == (2, 64)


def _loader(images, pids, camids):
    normalised = (images - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return [{"img": normalised, "pid": torch.tensor(pids), "camid": torch.tensor(camids)}]


def test_extractor_undoes_normalisation_and_chance_is_random():
    images = torch.rand(4, 3, 32, 16)
    pixels = matcher_extractor("pixels", IMAGENET_MEAN, IMAGENET_STD)
    feats, pids, _ = pixels(_loader(images, [1, 2, 3, 4], [1] * 4))
    assert torch.allclose(feats, pixel_features(images), atol=1e-5) and pids.tolist() == [1, 2, 3, 4]
    chance = matcher_extractor(CHANCE, IMAGENET_MEAN, IMAGENET_STD)
    first, second = chance(_loader(images, [1] * 4, [1] * 4))[0], chance(_loader(images, [1] * 4, [1] * 4))[0]
    assert not torch.allclose(first, second)  # a batch of the same images still gets new random features
    with pytest.raises(ValueError, match="unknown matcher 'sift'"):
        matcher_extractor("sift", IMAGENET_MEAN, IMAGENET_STD)


def _read(root, cams, pids):
    from PIL import Image

    images, ids = [], []
    for pid in pids:
        for cam in cams:
            for path in sorted((root / f"cam{cam}" / f"{pid:04d}").glob("*.jpg")):
                images.append(torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1) / 255)
                ids.append(pid)
    return torch.stack(images), np.array(ids)


def test_synthetic_identity_is_not_in_pixels_or_colours(tmp_path):
    """Infrared queries against every visible image of 60 identities: both matchers stay near chance."""
    root = make_sysu(tmp_path, num_ids=60, splits=(1, 1, 58), images_per_cam=2, size=(128, 64), seed=0)
    pids = range(1, 61)
    queries, q_ids = _read(root, (3, 6), pids)
    gallery, g_ids = _read(root, (1, 2, 4, 5), pids)
    chance = np.mean([np.mean(g_ids == pid) for pid in q_ids])  # a random gallery image has the query's identity
    for features in (pixel_features, histogram_features):
        similarity = features(queries) @ features(gallery).T
        rank1 = np.mean(g_ids[similarity.argmax(1).numpy()] == q_ids)
        assert rank1 <= 3 * chance, f"{features.__name__}: rank-1 {rank1:.3f} against chance {chance:.3f}"

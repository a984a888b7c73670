"""Hand-made matchers: what a task gives away without learning. A grayscale pixel matcher and a colour-histogram
matcher run through the same protocol code as a network; a synthetic task on which either is far above chance
does not test cross-modality learning (docs/learning.md).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from toplight_plugin.core.data.transforms import GRAY_WEIGHTS

PIXEL_SIZE = (32, 16)  # (height, width) the pixel matcher compares at
HISTOGRAM_BINS = 4  # per channel: a 64-bin joint RGB histogram


def pixel_features(images: torch.Tensor) -> torch.Tensor:
    """Grayscale images (N, 3, H, W in [0, 1]) shrunk to 32 x 16, centred and L2-normalised: their cosine
    similarity is the normalised cross-correlation of the two pictures."""
    gray = (images * torch.tensor(GRAY_WEIGHTS, dtype=images.dtype).view(1, 3, 1, 1)).sum(1, keepdim=True)
    small = F.interpolate(gray, size=PIXEL_SIZE, mode="area").flatten(1)
    return F.normalize(small - small.mean(dim=1, keepdim=True), dim=1)


def histogram_features(images: torch.Tensor) -> torch.Tensor:
    """Joint RGB histogram of each image (N, 3, H, W in [0, 1]), square-rooted and L2-normalised (Hellinger)."""
    bins = (images.clamp(0, 1) * HISTOGRAM_BINS).long().clamp(max=HISTOGRAM_BINS - 1)
    code = (bins[:, 0] * HISTOGRAM_BINS + bins[:, 1]) * HISTOGRAM_BINS + bins[:, 2]
    counts = F.one_hot(code.flatten(1), HISTOGRAM_BINS**3).sum(1).float()
    return F.normalize(counts.sqrt(), dim=1)


MATCHERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "pixels": pixel_features,
    "histogram": histogram_features,
}
CHANCE = "random"  # random unit features: chance, measured under the protocol's own gallery sampling and camera rules


def matcher_extractor(name: str, mean: Sequence[float], std: Sequence[float]):
    """``extract(loader)`` for the protocol code (protocols.evaluate_dataset): the loader's normalised images are
    taken back to [0, 1] with ``mean`` / ``std`` and described by the matcher ``name`` (or CHANCE)."""
    if name == CHANCE:
        generator = torch.Generator().manual_seed(0)
        features = lambda images: F.normalize(torch.randn(len(images), 64, generator=generator), dim=1)  # noqa: E731
    elif name in MATCHERS:
        features = MATCHERS[name]
    else:
        raise ValueError(f"unknown matcher {name!r}; expected one of {[CHANCE, *MATCHERS]}")
    mean_t, std_t = torch.tensor(mean).view(1, 3, 1, 1), torch.tensor(std).view(1, 3, 1, 1)

    def extract(loader):
        feats, pids, camids = [], [], []
        for data in loader:
            feats.append(features(data["img"].float() * std_t + mean_t))
            pids.append(data["pid"])
            camids.append(data["camid"])
        return torch.cat(feats), torch.cat(pids).numpy(), torch.cat(camids).numpy()

    return extract

"""t-SNE: separable clusters stay separate; the Fig. 4 tool reads pretraining and VI checkpoints."""

import numpy as np
import pytest
import torch
from PIL import Image

import toplight_plugin
from toplight_plugin.cli.tsne import main
from toplight_plugin.core.analysis.tsne import tsne


def test_tsne_keeps_separable_clusters_apart():
    rng = np.random.default_rng(0)
    centres = 6 * rng.standard_normal((4, 20))
    points = np.concatenate([c + rng.standard_normal((15, 20)) for c in centres])
    labels = np.repeat(np.arange(4), 15)
    y = tsne(points, perplexity=10)
    assert y.shape == (60, 2) and np.isfinite(y).all()
    d = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    assert (labels[d.argmin(axis=1)] == labels).mean() > 0.95
    with pytest.raises(ValueError, match="at least 4 points"):
        tsne(points[:3])


@pytest.mark.parametrize("pre_groups", [2, 1], ids=["pretraining", "vi"])
def test_tool_on_pretraining_and_vi_checkpoints(sysu_root, tmp_path, pre_groups):
    options = {"fdr": None} if pre_groups == 2 else {}
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, pre_groups=pre_groups, height=64,
                                  width=32, **options)  # fmt: skip
    torch.save({"state_dict": model.state_dict()}, tmp_path / "model.pth")
    args = ["--model", "toplight_mobilenetv3_small", "--weights", str(tmp_path / "model.pth"), "--sysu",
            str(sysu_root), "--ids", "3", "--per-modality", "3", "--height", "64", "--width", "32"]  # fmt: skip
    output = main([*args, "--output", str(tmp_path / "tsne.png")])
    with Image.open(output) as picture:
        assert picture.format == "PNG" and picture.size == (500, 500)

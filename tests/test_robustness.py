"""No silent wrong result: stray files, 16-bit images, a diverging loss, non-finite features and exports, and
options that would only fail hours later are all stopped with one clear message."""

import numpy as np
import pytest
import torch
from PIL import Image

import toplight_plugin
from toplight_plugin.cli import export_onnx as export_tool
from toplight_plugin.cli import search as search_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.core.data import sysu_mm01
from toplight_plugin.core.data.images import list_images, read_image
from toplight_plugin.core.data.synthetic import make_sysu
from toplight_plugin.core.deploy.export import export_onnx, parity
from toplight_plugin.core.deploy.search import GalleryIndex
from toplight_plugin.core.evaluation.protocols import ProtocolOptions


def _tiny(root, save_dir, *extra):
    return [
        "model.name", "toplight_mobilenetv3_small", "model.pretrained", "False", "data.root", str(root),
        "data.height", "64", "data.width", "32", "data.workers", "0", "data.save_dir", str(save_dir),
        "train.batch_size", "16", "sampler.num_instances", "2", "train.max_epoch", "1", "test.eval_freq", "-1",
        "toplight.trials", "1", *extra,
    ]  # fmt: skip


def test_stray_files_are_not_images(tmp_path):
    root = make_sysu(tmp_path / "SYSU-MM01", num_ids=6, splits=(2, 2, 2), images_per_cam=2, size=(64, 32))
    folder = next((root / "cam1").iterdir())
    before = sysu_mm01.train_records(root) + sysu_mm01.query_records(root)
    for stray in ("Thumbs.db", ".DS_Store", "._0001.jpg", "notes.txt"):
        (folder / stray).write_bytes(b"\0not an image")
    assert sysu_mm01.train_records(root) + sysu_mm01.query_records(root) == before
    assert all(p.name[0] != "." and p.suffix == ".jpg" for p in list_images(folder))


def test_sixteen_bit_images_are_scaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 64 * 32).reshape(64, 32).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "thermal.png")
    rgb = np.asarray(read_image(str(tmp_path / "thermal.png")))
    assert rgb.shape == (64, 32, 3) and rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    assert np.abs(rgb[..., 0].astype(float) - ramp / 257).max() <= 0.5 + 1e-9  # rounding only
    assert (rgb == 255).mean() < 0.01  # not 99 % white, as a plain convert("RGB") makes it


def test_a_diverging_loss_stops_training_before_the_step(sysu_root, tmp_path, monkeypatch):
    from toplight_plugin.core.training.losses import IdentityTripletLoss

    forward = IdentityTripletLoss.forward

    def nan_loss(self, logits, features, pids):
        losses = forward(self, logits, features, pids)
        return {**losses, "loss": losses["loss"] * float("nan")}

    monkeypatch.setattr(IdentityTripletLoss, "forward", nan_loss)
    with pytest.raises(FloatingPointError, match=r"training diverged: loss nan at epoch 1, batch 1; stopped"):
        train_tool.main(_tiny(sysu_root.parent, tmp_path))
    assert not (tmp_path / "last.pth").exists()  # nothing written from the diverged epoch


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("toplight.checkpoint_every", "0", "checkpoint_every must be at least 1"),
        ("toplight.trials", "0", "toplight.trials must be at least 1"),
        ("toplight.sysu_mode", "['all', 'indor']", "toplight.sysu_mode: expected a non-empty list"),
        ("sampler.num_instances", "0", "sampler.num_instances must be at least 1"),
    ],
)
def test_options_that_would_fail_late_fail_at_once(sysu_root, tmp_path, key, value, message):
    with pytest.raises(ValueError, match=message):
        train_tool.main(_tiny(sysu_root.parent, tmp_path, key, value))
    assert not (tmp_path / "last.pth").exists()


def test_protocol_options_are_checked():
    with pytest.raises(ValueError, match="toplight.shots must be 1 or 10"):
        ProtocolOptions(shots=3)


def test_search_never_returns_an_index_it_did_not_get():
    gallery = np.eye(4, dtype=np.float32)
    with pytest.raises(ValueError, match="1 gallery feature"):
        GalleryIndex(np.vstack([gallery, np.full((1, 4), np.nan, np.float32)]))
    index = GalleryIndex(gallery)
    with pytest.raises(ValueError, match="1 query feature"):
        index.search(np.full((1, 4), np.nan, np.float32), 2)
    with pytest.raises(ValueError, match="k must be at least 1"):
        index.search(gallery[:1], 0)
    with pytest.raises(SystemExit):
        search_tool.main(["--gallery", "g", "--query", "q", "--top-k", "0"])


def test_export_parity_fails_on_nan(tmp_path):
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32)
    with torch.no_grad():
        next(p for n, p in model.named_parameters() if n.endswith("bn.weight")).fill_(float("nan"))
    path = export_onnx(model, tmp_path / "m.onnx", 64, 32, {})
    assert not parity(model, path, 64, 32).ok


def test_weights_that_leave_the_fdr_random_are_an_error_unless_named(tmp_path):
    baseline = toplight_plugin.build("toplight_mobilenetv3_small", 5, fdr=None, height=64, width=32)
    path = tmp_path / "baseline.pth"
    torch.save({"state_dict": baseline.state_dict()}, path)
    options = dict(height=64, width=32, pretrained=str(path))
    with pytest.raises(ValueError, match=r"does not cover \d+ model tensors \(backbone\.neck\..*model.allow_missing"):
        toplight_plugin.build("toplight_mobilenetv3_small", 5, **options)
    named = toplight_plugin.build("toplight_mobilenetv3_small", 5, allow_missing=("head.", "backbone.neck."), **options)
    torch.testing.assert_close(named.backbone.stems[1].state_dict(), baseline.backbone.stems[1].state_dict())
    # evaluation tools ignore a config's allow_missing: it is about the weights training starts from
    with pytest.raises(ValueError, match="does not cover"):
        export_tool.main(["--model", "toplight_mobilenetv3_small", "--weights", str(path), "--output",
                          str(tmp_path / "m.onnx"), "data.height", "64", "data.width", "32", "toplight.fdr", "hs+vs",
                          "model.allow_missing", "['backbone.neck.']"])  # fmt: skip


def test_features_that_tie_everything_are_refused_not_scored(tmp_path):
    """An all-black dataset used to score rank-1 100 % / mAP 100 %: every distance tied. Identical images may still
    give features that differ in the last bits (kernels differ across batch rows on some CPUs), so the head's
    BatchNorm scale is zeroed as well: every feature is then its shift, exactly."""
    from toplight_plugin.cli import test as test_tool
    from toplight_plugin.core.evaluation.distances import FeatureDistances, largest_spread

    root = make_sysu(tmp_path / "SYSU-MM01", num_ids=6, splits=(2, 2, 2), images_per_cam=2, size=(64, 32))
    for image in root.rglob("*.jpg"):
        Image.new("RGB", (32, 64)).save(image)
    model = toplight_plugin.build("toplight_mobilenetv3_small", 4, height=64, width=32)
    state = model.state_dict()
    state["head.bn.weight"].zero_()
    state["head.bn.bias"].uniform_(0.5, 1.0)
    torch.save({"state_dict": state}, tmp_path / "w.pth")
    with pytest.raises(FloatingPointError, match="SYSUMM01: every query is at the same distance from every gallery"):
        test_tool.main(["--weights", str(tmp_path / "w.pth"), *_tiny(tmp_path, tmp_path / "out")])
    features = torch.nn.functional.normalize(torch.randn(5, 8), dim=1)
    assert largest_spread(FeatureDistances(features[:1].repeat(3, 1), features[1:2].repeat(4, 1))) == 0
    assert largest_spread(FeatureDistances(features[:2], features[2:])) > 0


def test_features_that_differ_only_by_rounding_are_reported():
    from toplight_plugin.core.evaluation.distances import ROUNDING, FeatureDistances, largest_spread
    from toplight_plugin.core.evaluation.protocols import refuse_ties

    query = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    gallery = torch.tensor([[1.0, 0.0], [1.0, 6e-4], [1.0, 9e-4]])  # 1 - cos = 0, 1.8e-7, 4.0e-7: a few float32 ulps
    distances = FeatureDistances(query, gallery)
    assert 0 < largest_spread(distances) <= ROUNDING
    with pytest.warns(UserWarning, match="differ by less than 1e-06 .float32 rounding."):
        refuse_ties(query, gallery, "SYSUMM01")

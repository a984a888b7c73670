"""Task-oriented pretraining: one epoch on a tiny ImageFolder, its log line, the soup it ends with, the Table 3
switches."""

import shutil

import pytest
import torch

import toplight_plugin
from toplight_plugin.cli.pretrain_top import main
from toplight_plugin.core.pretrain import TOPModel, get_default_config
from toplight_plugin.core.synthetic import make_imagefolder
from toplight_plugin.hosts.torchreid.config import load_config


def _overrides(root, save_dir, *extra):
    return [
        "model.name", "toplight_mobilenetv3_small", "model.pretrained", "False", "data.root", str(root),
        "data.height", "64", "data.width", "64", "data.workers", "0", "train.batch_size", "8",
        "train.max_epoch", "1", "data.save_dir", str(save_dir), *extra,
    ]  # fmt: skip


def test_one_epoch_then_soup_loads_into_the_vi_model(tmp_path):
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    soup = main(_overrides(root, tmp_path / "out"))
    state = torch.load(soup, weights_only=True)["state_dict"]
    assert not any(k.startswith("backbone.pre.1.") for k in state)
    last = torch.load(tmp_path / "out" / "last.pth", weights_only=True)
    assert last["epoch"] == 1 and any(k.startswith("backbone.pre.1.") for k in last["state_dict"])
    (log,) = (tmp_path / "out").glob("pretrain.log-*")
    (line,) = [line for line in log.read_text().splitlines() if line.startswith("epoch 1/1")]
    assert all(word in line.split() for word in ("loss", "loss_idc", "loss_fd1", "loss_fd2", "lr")), line
    vi = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=5, loss="triplet", pretrained=str(soup),
                               height=64, width=32, allow_missing=("head.", "backbone.neck."))  # fmt: skip
    torch.testing.assert_close(vi.state_dict()["backbone.stems.1.0.weight"], state["backbone.stems.1.0.weight"])


@pytest.mark.parametrize(("identity", "fake_domain", "terms"), [
    ("idc", True, {"loss", "loss_idc", "loss_fd1", "loss_fd2"}),
    ("idc", False, {"loss", "loss_idc"}),
    ("id", False, {"loss", "loss_id"}),
])  # fmt: skip
def test_table3_switches(identity, fake_domain, terms):
    cfg = load_config(None, ["model.name", "toplight_mobilenetv3_small", "model.pretrained", "False",
                             "data.height", "64", "data.width", "64", "top.identity", identity,
                             "top.fake_domain", str(fake_domain)], defaults=get_default_config)  # fmt: skip
    model = TOPModel(cfg, num_classes=3)
    losses = model(torch.randn(4, 3, 64, 64), torch.randn(4, 3, 64, 64), torch.tensor([0, 1, 2, 0]))
    assert set(losses) == terms and torch.isfinite(losses["loss"])
    losses["loss"].backward()
    shared = model.net.head.classifier.weight.grad
    assert shared is not None and shared.abs().sum() > 0
    # L_idc: one classifier for both paths; L_id: path 2 has its own.
    assert (model.classifier2 is None) == (identity == "idc")


def test_resume_continues_exactly(tmp_path):
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    main(_overrides(root, tmp_path / "whole", "train.max_epoch", "2"))
    # A run stopped after epoch 1 left exactly the epoch-1 checkpoint as its last.pth.
    (tmp_path / "split").mkdir()
    shutil.copy(tmp_path / "whole" / "epoch-1.pth", tmp_path / "split" / "last.pth")
    main(["--resume", *_overrides(root, tmp_path / "split", "train.max_epoch", "2")])
    a = torch.load(tmp_path / "whole" / "last.pth", weights_only=True)["top"]
    b = torch.load(tmp_path / "split" / "last.pth", weights_only=True)["top"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_batch_larger_than_the_dataset_is_an_error_not_a_soup_of_the_initial_weights(tmp_path):
    root = make_imagefolder(tmp_path / "if", num_classes=2, images_per_class=3, size=(64, 64))
    with pytest.raises(ValueError, match=r"6 images \(6 per process\) are fewer than train.batch_size 8"):
        main(_overrides(root, tmp_path / "out"))
    assert not (tmp_path / "out" / "soup.pth").exists()


def test_a_diverged_run_stops_before_the_step_and_writes_no_soup(tmp_path, monkeypatch):
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    forward, calls = TOPModel.forward, []

    def nan_on_the_third_batch(self, *args):
        calls.append(1)
        losses = forward(self, *args)
        return {**losses, "loss": losses["loss"] * float("nan")} if len(calls) == 3 else losses

    monkeypatch.setattr(TOPModel, "forward", nan_on_the_third_batch)
    with pytest.raises(FloatingPointError, match=r"loss nan at epoch 2, batch 1; .* is .*out/last.pth"):
        main(_overrides(root, tmp_path / "out", "train.max_epoch", "2"))
    assert not (tmp_path / "out" / "soup.pth").exists()
    last = torch.load(tmp_path / "out" / "last.pth", weights_only=True)
    assert last["epoch"] == 1 and all(torch.isfinite(v).all() for v in last["state_dict"].values())

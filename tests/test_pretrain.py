"""Task-oriented pretraining: one epoch on a tiny ImageFolder, its log line, the soup it ends with, the Table 3
switches."""

import math
import shutil

import pytest
import torch

import toplight_plugin
from toplight_plugin.cli.pretrain_top import main
from toplight_plugin.core.data.device_normalize import DeviceNormalize
from toplight_plugin.core.data.synthetic import make_imagefolder
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.pretrain import TOPModel, collapsed, get_default_config, grl_coefficient


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


def test_keep_last_leaves_the_newest_epoch_files_and_last(tmp_path):
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    main(_overrides(root, tmp_path / "out", "train.max_epoch", "3", "train.keep_last", "1"))
    assert sorted(p.name for p in (tmp_path / "out").glob("*.pth")) == ["epoch-3.pth", "last.pth", "soup.pth"]
    assert torch.load(tmp_path / "out" / "last.pth", weights_only=True)["epoch"] == 3


def test_grad_clip_bounds_every_step(tmp_path):
    """Two SGD steps (momentum 0.9, no weight decay) with gradients clipped to norm c move the parameters by at most
    lr * c * (1 + 1.9); unclipped, the same steps move them a thousand times further."""
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    cfg = load_config(None, _overrides(root, tmp_path / "x"), defaults=get_default_config)
    torch.manual_seed(cfg.train.seed)  # as the run does before it builds the model
    start = dict(TOPModel(cfg, num_classes=4).named_parameters())
    moved = {}
    for clip in ("0.0", "0.0001"):
        main(_overrides(root, tmp_path / clip, "train.grad_clip", clip, "train.weight_decay", "0.0"))
        end = torch.load(tmp_path / clip / "last.pth", weights_only=True)["top"]
        moved[clip] = torch.stack([(end[k] - p.detach()).norm() for k, p in start.items()]).norm().item()
    assert moved["0.0001"] <= cfg.train.lr * 1e-4 * 2.9 * (1 + 1e-3), moved
    assert moved["0.0"] > 1000 * moved["0.0001"], moved


def test_uint8_batches_normalised_on_the_device_train_as_the_workers_float_ones(tmp_path, monkeypatch):
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    normalise, dtypes = DeviceNormalize.__call__, []

    def seen(self, images, ops=None):
        dtypes.append(images.dtype)
        return normalise(self, images, ops)

    monkeypatch.setattr(DeviceNormalize, "__call__", seen)
    ends = {}
    for where in ("worker", "device"):
        main(_overrides(root, tmp_path / where, "data.normalize_on", where))
        ends[where] = torch.load(tmp_path / where / "last.pth", weights_only=True)["top"]
        assert len(dtypes) == (0 if where == "worker" else 4)  # two steps, two views each
    for key, value in ends["worker"].items():
        torch.testing.assert_close(ends["device"][key], value, atol=1e-4, rtol=1e-4)


def test_a_collapse_is_seen_when_the_identity_loss_returns_to_chance_and_not_before():
    """Epoch means of L_idc over 300 classes (chance 2 ln 300 = 11.41) from the synthetic ablation: a stage whose
    fake-domain terms jumped at epoch 4, and a stable one."""
    diverged = [10.72, 9.15, 8.64, 10.09, 11.06, 11.41]
    stable = [10.79, 9.26, 8.63, 8.03, 7.60, 7.18, 6.87, 6.63, 6.42, 6.43]
    seen = [collapsed(diverged[: n + 1], 300) for n in range(len(diverged))]
    assert seen == [False, False, False, False, True, True]
    assert not any(collapsed(stable[: n + 1], 300) for n in range(len(stable)))
    assert not collapsed([11.2, 11.4], 300)  # no fall yet: noise at chance is not a collapse


def test_a_collapsed_stage_warns_naming_the_epoch_and_the_loss(tmp_path, monkeypatch):
    from toplight_plugin.cli import pretrain_top

    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    monkeypatch.setattr(pretrain_top, "collapsed", lambda history, classes: len(history) == 2 and classes == 4)
    with pytest.warns(UserWarning, match=r"epoch 2: loss_idc .* back near chance \(2 ln 4 = 2.77\)"):
        main(_overrides(root, tmp_path / "out", "train.max_epoch", "2"))


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


def test_standard_pretraining_writes_library_weights_that_top_and_vi_start_from(tmp_path):
    """SP trains the library network; its sp.pth (a 4-class classifier, not ImageNet's 1000) loads as ImageNet
    weights do: into both stems and both pre-embedding groups of TOP, and into the VI model."""
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    sp = main(_overrides(root, tmp_path / "sp", "stage", "sp", "model.bn_momentum", "0.1"))
    library = torch.load(sp, weights_only=True)["state_dict"]
    assert sp.name == "sp.pth" and library["classifier.3.weight"].shape[0] == 4
    (log,) = (tmp_path / "sp").glob("pretrain.log-*")
    assert any(line.startswith("epoch 1/1  loss ") for line in log.read_text().splitlines())
    cfg = load_config(None, _overrides(root, tmp_path / "top", "model.load_weights", str(sp)),
                      defaults=get_default_config)  # fmt: skip
    top = TOPModel(cfg, num_classes=4).net.state_dict()
    first_conv = library["features.0.0.weight"]
    for key in ("backbone.stems.0.0.weight", "backbone.stems.1.0.weight"):
        assert torch.equal(top[key], first_conv), key
    assert torch.equal(top["backbone.pre.0.0.block.0.0.weight"], top["backbone.pre.1.0.block.0.0.weight"])
    assert torch.equal(top["backbone.pre.0.0.block.0.0.weight"], library["features.1.block.0.0.weight"])
    vi = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=9, loss="triplet", pretrained=str(sp),
                               height=64, width=32)  # fmt: skip
    assert torch.equal(vi.state_dict()["backbone.stems.1.0.weight"], first_conv)


def test_ganin_grl_ramp_goes_from_zero_to_the_scale():
    assert grl_coefficient("constant", 0.5, 0.3) == 0.5
    assert grl_coefficient("ganin", 1.0, 0.0) == 0.0
    assert grl_coefficient("ganin", 2.0, 0.5) == pytest.approx(2 * (2 / (1 + math.exp(-5)) - 1))
    assert grl_coefficient("ganin", 1.0, 1.0) == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(ValueError, match="grl_schedule"):
        grl_coefficient("linear", 1.0, 0.5)


def test_a_pretraining_folder_is_resumed_checked_or_overwritten_never_silently_replaced(tmp_path):
    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=4, size=(64, 64))
    main(_overrides(root, tmp_path / "out"))
    soup = (tmp_path / "out" / "soup.pth").read_bytes()
    with pytest.raises(FileExistsError, match="already holds a run .* continue it with --resume, start afresh"):
        main(_overrides(root, tmp_path / "out"))
    assert (tmp_path / "out" / "soup.pth").read_bytes() == soup
    last = torch.load(tmp_path / "out" / "last.pth", weights_only=True)
    broken = {**last, "state_dict": {k: v * float("nan") if v.is_floating_point() else v
                                     for k, v in last["state_dict"].items()}}  # fmt: skip
    torch.save(broken, tmp_path / "out" / "last.pth")
    with pytest.raises(ValueError, match="last.pth: .* tensors hold NaN or inf"):
        main(["--resume", *_overrides(root, tmp_path / "out", "train.max_epoch", "2")])
    torch.save(last, tmp_path / "out" / "last.pth")
    more = make_imagefolder(tmp_path / "if5", num_classes=5, images_per_class=4, size=(64, 64))
    with pytest.raises(ValueError, match="another number of identities"):
        main(["--resume", *_overrides(more, tmp_path / "out", "train.max_epoch", "2")])
    with pytest.raises(ValueError, match="give one of them"):
        main(["--resume", "--overwrite", *_overrides(root, tmp_path / "out")])
    main(["--overwrite", *_overrides(more, tmp_path / "out")])
    fresh = torch.load(tmp_path / "out" / "last.pth", weights_only=True)["top"]
    assert fresh["net.head.classifier.weight"].shape[0] == 5

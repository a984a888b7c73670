"""A torchreid user's habits: stock config keys honoured or refused with the reason, batch sizes the sampler cannot
draw, feature extraction with modalities, BatchNorm from scratch in torchreid's loop, configs that name their model."""

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from test_engine import tiny

import toplight_plugin
from toplight_plugin.cli import test as test_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.core.models.batchnorm import recalibrate_batchnorm
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.models.weights import load_state_dict_file
from toplight_plugin.core.training.config import load_config
from toplight_plugin.hosts.torchreid import compat, extractor
from toplight_plugin.hosts.torchreid.distance_options import TorchreidDistance

SYNTHETIC = Path(__file__).resolve().parents[1] / "configs" / "synthetic"
# deep-person-reid's configs/im_osnet_x1_0_softmax_256x128_amsgrad_cosine.yaml (upstream's batch and epochs)
STOCK_YAML = """
model:
  name: 'osnet_x1_0'
  pretrained: True
data:
  type: 'image'
  sources: ['market1501']
  targets: ['market1501']
  height: 256
  width: 128
  combineall: False
  transforms: ['random_flip']
  save_dir: 'log/osnet_x1_0_market1501_softmax_cosinelr'
loss:
  name: 'softmax'
  softmax:
    label_smooth: True
train:
  optim: 'amsgrad'
  lr: 0.0015
  max_epoch: 250
  batch_size: 64
  fixbase_epoch: 10
  open_layers: ['classifier']
  lr_scheduler: 'cosine'
test:
  batch_size: 300
  dist_metric: 'euclidean'
  normalize_feature: False
  evaluate: False
  eval_freq: -1
  rerank: False
"""


def test_a_stock_torchreid_yaml_loads_and_its_batch_is_fitted_with_a_line(tmp_path, capsys):
    path = tmp_path / "im_osnet_x1_0_softmax_256x128_amsgrad_cosine.yaml"
    path.write_text(STOCK_YAML)
    cfg = load_config(path)
    assert (cfg.train.fixbase_epoch, list(cfg.train.open_layers)) == (10, ["classifier"])
    assert (cfg.test.dist_metric, cfg.test.normalize_feature, cfg.test.rerank) == ("euclidean", False, False)
    # the plugin's sampler draws 2 x 6 images per identity: 64 becomes 60, and the line names what fits as written
    assert cfg.train.batch_size == 60
    assert "train.batch_size 64 is not a multiple of 2 x sampler.num_instances (12): training with 60" in (
        capsys.readouterr().out
    )
    assert load_config(path, ["sampler.num_instances", "4"]).train.batch_size == 64  # torchreid's K fits
    assert "train.batch_size" not in capsys.readouterr().out


@pytest.mark.parametrize(
    ("opts", "message"),
    [
        (
            ["train.batch_size", "16"],
            r"train.batch_size 16 holds fewer than two identities .* use train.batch_size "
            r"24 or more, or sampler.num_instances 4$",
        ),
        (["test.dist_metric", "manhattan"], r"test.dist_metric must be one of \['euclidean', 'cosine'\]"),
        (["test.rerank", "True"], r"test.rerank True applies only with test.evaluate True"),
        (["train.fixbase_epoch", "2", "train.open_layers", "[]"], r"train.open_layers must name the layers"),
        (
            ["model.name", "toplight_mobilenetv3_small_nofdr", "toplight.fdr", "hs"],
            r"toplight.fdr .hs. contradicts model.name toplight_mobilenetv3_small_nofdr, which is built without",
        ),
    ],
    ids=["one-identity-batch", "dist-metric", "rerank-in-training", "no-open-layers", "fdr-contradicts-name"],
)
def test_settings_that_cannot_work_are_refused_in_one_line(opts, message):
    with pytest.raises(ValueError, match=message) as error:
        load_config(None, opts)
    assert "\n" not in str(error.value)


def test_a_no_fdr_name_decides_the_fdr_its_config_leaves_out():
    cfg = load_config(None, ["model.name", "toplight_mobilenetv3_small_nofdr"])
    assert cfg.toplight.fdr == ""  # the saved config.yaml says what trains
    assert load_config(None, ["model.name", "toplight_mobilenetv3_small_nofdr", "toplight.fdr", ""]).toplight.fdr == ""


@pytest.mark.parametrize("config", sorted(SYNTHETIC.glob("mbv3s_*.yaml")), ids=lambda p: p.stem)
def test_synthetic_configs_name_the_model_they_train(config):
    """A checkpoint loads by its config's model name alone (torchreid's build_model) without uncovered tensors."""
    cfg = load_config(config, ["data.height", "64", "data.width", "32"])
    trained = build_model(cfg, num_classes=3).state_dict()
    by_name = compat.models().build_model(cfg.model.name, num_classes=3, pretrained=False).state_dict()
    assert {k: v.shape for k, v in by_name.items()} == {k: v.shape for k, v in trained.items()}


def _state(path) -> dict:
    return {k: v.clone() for k, v in load_state_dict_file(str(path)).items()}


def test_fixbase_epoch_trains_only_the_open_layers_then_everything(sysu_root, tmp_path):
    start = tmp_path / "start.pth"
    torch.save({"state_dict": toplight_plugin.build("toplight_mobilenetv3_small", 10).state_dict()}, start)
    run = tiny(sysu_root.parent, tmp_path / "run", "model.load_weights", str(start), "train.fixbase_epoch", "1",
               "train.open_layers", "['head']", "toplight.checkpoint_every", "1")  # fmt: skip
    train_tool.main([*run, "train.max_epoch", "2"])
    run_dir = tmp_path / "run"
    before, first, second = (_state(p) for p in (start, run_dir / "epoch-1.pth", run_dir / "last.pth"))
    for key in before:  # epoch 1: the backbone frozen (weights and BatchNorm statistics), the head trained
        moved = not torch.equal(before[key], first[key])
        assert moved == (key.startswith("head.") and key != "head.bn.bias"), key  # the BNNeck shift stays frozen
    assert not torch.equal(first["backbone.stems.0.0.weight"], second["backbone.stems.0.0.weight"])  # epoch 2


def test_open_layers_the_model_lacks_are_named_with_the_ones_it_has(sysu_root, tmp_path):
    run = tiny(sysu_root.parent, tmp_path, "train.fixbase_epoch", "1", "train.open_layers", "['classifier']")
    with pytest.raises(ValueError, match=r"train.open_layers: .* no top-level layer \['classifier'\] .* "
                                         r"its layers are \['backbone', 'head'\]"):  # fmt: skip
        train_tool.main([*run, "train.max_epoch", "1"])


def test_torchreid_distance_matches_its_formulas():
    q, g = torch.randn(5, 8), torch.randn(7, 8)
    np.testing.assert_allclose(TorchreidDistance()(q, g), torch.cdist(q, g).pow(2).numpy(), atol=1e-4)
    cosine = 1 - torch.nn.functional.normalize(q, dim=1) @ torch.nn.functional.normalize(g, dim=1).t()
    np.testing.assert_allclose(TorchreidDistance("cosine")(q, g), cosine.numpy(), atol=1e-5)
    assert not TorchreidDistance().requested and TorchreidDistance(rerank=True).requested
    assert not np.allclose(TorchreidDistance(rerank=True)(q, g), TorchreidDistance()(q, g))


def test_torchreid_distance_options_are_figures_beside_the_protocol(sysu_root, tmp_path, capsys):
    model = toplight_plugin.build("toplight_shufflenetv2_x1_0", 10, height=64, width=32)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "w.pth")
    common = ["--weights", str(tmp_path / "w.pth"), *tiny(sysu_root.parent, tmp_path / "plain", "model.name",
                                                          "toplight_shufflenetv2_x1_0")]  # fmt: skip
    plain = test_tool.main(common)
    options = test_tool.main([*common, "data.save_dir", str(tmp_path / "options"), "test.dist_metric", "euclidean",
                              "test.rerank", "True"])  # fmt: skip
    label = " [torchreid euclidean + rerank: not the published protocol]"
    assert list(options) == ["sysu_all", f"sysu_all{label}", "sysu_indoor", f"sysu_indoor{label}"]
    for protocol, summary in plain.items():
        assert options[protocol] == summary  # the published figures do not change
    assert options[f"sysu_all{label}"]["trials"] != plain["sysu_all"]["trials"]  # re-ranked: other rankings
    assert set(json.loads((tmp_path / "options" / "results.json").read_text())) == set(options)
    printed = capsys.readouterr().out
    assert f"sysu_all{label}: rank1" in printed and "the published protocol's (cosine distance) come first" in printed


def _images(n: int) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (80, 40, 3), dtype=np.uint8) for _ in range(n)]


def test_the_feature_extractor_routes_each_image_to_its_modalitys_stem():
    model = toplight_plugin.build("toplight_mobilenetv3_small", 3, height=64, width=32)
    with torch.no_grad():  # stems that differ, and BatchNorm statistics that keep the features away from zero
        for p in model.backbone.stems[1].parameters():
            p.add_(torch.randn_like(p))
    recalibrate_batchnorm(model, [(torch.rand(8, 3, 64, 32), torch.tensor([0, 1] * 4))])
    seen = {0: [], 1: []}
    for m in (0, 1):
        model.backbone.stems[m].register_forward_hook(lambda _, args, __, m=m: seen[m].append(len(args[0])))
    fx = toplight_plugin.FeatureExtractor(model=model, image_size=(64, 32), device="cpu")
    images, modality = _images(5), [0, 1, 1, 0, 1]
    mixed = fx(images, modality)
    assert seen == {0: [2], 1: [3]}
    def gap(a, b):
        return float((a - b).norm() / b.norm())

    assert gap(fx(images[1], 1)[0], mixed[1]) < 1e-4  # alone or in a mixed list: the same feature (float rounding)
    assert gap(fx(images[1], 0)[0], mixed[1]) > 1e-2  # through the visible stem: another one
    with pytest.raises(ValueError, match="modality: 2 codes for 5 images"):
        fx(images, [0, 1])


def test_torchreids_stock_extractor_warns_once_about_a_plugin_model(tmp_path):
    name = "toplight_mobilenetv3_small_nofdr"
    path = tmp_path / "w.pth"
    torch.save({"state_dict": toplight_plugin.build(name, 3).state_dict()}, path)
    extractor.WARNED.discard(name)
    options = dict(model_name=name, model_path=str(path), image_size=(64, 32), device="cpu", verbose=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(2):
            compat.torchreid().utils.FeatureExtractor(**options)
    said = [str(w.message) for w in caught if "goes through the visible stem" in str(w.message)]
    assert len(said) == 1 and "toplight_plugin.FeatureExtractor" in said[0]


def test_torchreid_builds_from_scratch_with_batchnorm_momentum_that_keeps_up(tmp_path):
    def momenta(model):
        return {m.momentum for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)}

    name = "toplight_mobilenetv3_small"
    assert momenta(compat.models().build_model(name, num_classes=3, pretrained=False)) == {0.1}
    plugin = toplight_plugin.build(name, 3)
    assert 0.01 in momenta(plugin)  # torchvision's, in the backbone: the plugin's own tools set toplight.bn_momentum
    torch.save({"state_dict": plugin.state_dict()}, tmp_path / "w.pth")  # weights to start from: the library's value
    assert 0.01 in momenta(compat.models().build_model(name, num_classes=3, pretrained=str(tmp_path / "w.pth")))

"""Model cards: every registered model's card against the model it builds, checkpoints that carry the card, the one
fallback for checkpoints written before cards, and lists of models that follow the registry."""

import argparse
import dataclasses
import inspect
import re
from pathlib import Path

import pytest
import torch

import toplight_plugin
from toplight_plugin.cli.model_args import model_from_args
from toplight_plugin.cli.soup import soup_file
from toplight_plugin.core.deploy.benchmark import deployable
from toplight_plugin.core.models.backbones import BACKBONES
from toplight_plugin.core.models.cards import ModelCard, card_of, legacy_options, read_weights
from toplight_plugin.core.models.dual_path import DualPathNet, MapLayout
from toplight_plugin.core.models.fdr import FDR
from toplight_plugin.core.models.hooks import HOOKS, RoutesModality
from toplight_plugin.core.models.registry import MODELS, build_from_weights, card, cards, register_model
from toplight_plugin.core.training import checkpoint
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.pretrain import TOPModel, backbone_of, get_default_config
from toplight_plugin.core.training.soup import soup_checkpoint

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = {  # a value for every build option a card may declare, none of them the default
    "last_stride": 1, "pre_groups": 2, "fdr": "hs", "fdr_sigma": 3, "fdr_mu": 2, "fdr_attention": "se",
    "fdr_upsample": False, "fdr_groups": 2, "fdr_reading": "spatial", "dropout": 0.2, "parts": 2, "graph_heads": 2,
}  # fmt: skip
SMALL = dict(height=64, width=32)


def _implements(model: torch.nn.Module, hook: str) -> bool:
    if hook == "takes_pids":
        return "pids" in inspect.signature(model.forward).parameters
    if hook == "cam_layer":
        return isinstance(model.backbone, DualPathNet) and isinstance(model.backbone.pre[0], HOOKS[hook])
    return isinstance(model, HOOKS[hook])


@pytest.mark.parametrize("name", list(MODELS))
def test_card_describes_the_model_it_builds(name):
    facts = card(name)
    h, w = facts.input_size
    assert set(facts.takes) <= {"height", "width", *SAMPLE}, "an option this test has no value for"
    given = {k: v for k, v in {**SAMPLE, "height": h, "width": w}.items() if k in facts.takes}
    with pytest.raises(TypeError):
        toplight_plugin.build(name, 3, not_an_option=1)
    model = toplight_plugin.build(name, 3, loss="triplet", **given).eval()
    built = card_of(model)
    assert built.options == {**given, **facts.options} and built.input_size == (h, w)
    assert dataclasses.replace(built, options=facts.options, input_size=facts.input_size) == facts
    x = torch.rand(1, facts.in_chans, h, w)
    backbone = model.backbone
    with torch.no_grad():
        visible = model(x, 0)
        assert visible.shape == (1, facts.feat_dim)
        assert model(x, 0, return_featuremaps=True).dim() == 4
        assert isinstance(backbone, DualPathNet) == isinstance(backbone, RoutesModality) == facts.dual_path
        if facts.dual_path:
            for p in backbone.stems[1].parameters():
                p.add_(0.5 * torch.randn_like(p))  # the infrared stem now differs from the visible one
        infrared = model(x, 1)
        change = float((infrared - visible).abs().max() / visible.abs().max())
        assert change > 1e-2 if facts.dual_path else change == 0
        if facts.dual_path:
            backbone.route_next(torch.ones(1, dtype=torch.long))
            assert torch.equal(model(x), infrared)
            z = backbone.forward_pre(x, 0)
            assert len(backbone.pre) == max(facts.pre_groups)
            assert isinstance(backbone.neck, FDR) == (facts.takes_fdr and built.options["fdr"] is not None)
    assert isinstance(getattr(backbone, "post", None), MapLayout) == (facts.feature_layout != "nchw")
    if facts.feature_layout == "tokens":
        assert z.dim() == 3
    if facts.feature_layout == "nhwc":
        assert backbone.channels_first(z).shape == z.permute(0, 3, 1, 2).shape
    assert {hook for hook in HOOKS if _implements(model, hook)} == set(facts.hooks)
    assert facts.backbone in ("", *BACKBONES)


def _save(model, path: Path, card_entry: bool = True) -> Path:
    entries = checkpoint.model_state(model) if card_entry else {"state_dict": model.state_dict()}
    return checkpoint.atomic_save({**entries, "epoch": 1}, path)


def _args(weights: Path, model: str = "") -> argparse.Namespace:
    return argparse.Namespace(model=model, weights=str(weights), config_file="", opts=[])


def test_checkpoint_round_trip_keeps_the_card(tmp_path):
    model = toplight_plugin.build("toplight_mobilenetv3_small", 3, fdr="hs", last_stride=1, **SMALL)
    path = _save(model, tmp_path / "last.pth")
    assert ModelCard.from_dict(torch.load(path, weights_only=True)["card"], str(path)) == card_of(model)
    weights = read_weights(path)
    assert weights.card == card_of(model) and weights.own and weights.options == card_of(model).options
    rebuilt = build_from_weights(weights)
    assert card_of(rebuilt) == card_of(model)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in rebuilt.state_dict().items() if "classifier" not in k)
    tool, cfg = model_from_args(_args(path))  # no --model, no config: the card names both
    assert (cfg.model.name, cfg.toplight.fdr, cfg.toplight.last_stride, cfg.data.height) == (
        "toplight_mobilenetv3_small", "hs", 1, 64)  # fmt: skip
    with pytest.raises(ValueError, match=r"last.pth holds toplight_mobilenetv3_small \(its model card\), not agw"):
        model_from_args(_args(path, "agw_resnet50"))
    other = toplight_plugin.build("toplight_mobilenetv3_small_nofdr", 3, **SMALL)
    with pytest.raises(ValueError, match="written for toplight_mobilenetv3_small .its model card., not .*_nofdr"):
        resumable = {**torch.load(path, weights_only=True), "optimizer": {}, "scheduler": {}}
        checkpoint.check_resumable(resumable, other, path)


def test_cardless_checkpoint_loads_through_the_fallback(tmp_path):
    """A checkpoint written before cards: its keys say two groups and no FDR; the model is named by the caller."""
    top = toplight_plugin.build("toplight_mobilenetv3_small", 3, pre_groups=2, fdr=None, **SMALL)
    old = _save(top, tmp_path / "old.pth", card_entry=False)
    weights = read_weights(old)
    assert (weights.card, weights.own, weights.options) == (None, True, {"pre_groups": 2, "fdr": None})
    with pytest.raises(ValueError, match="old.pth carries no model card .*: name its model"):
        build_from_weights(weights)
    assert len(build_from_weights(weights, "toplight_mobilenetv3_small", **SMALL).backbone.pre) == 2
    soup = read_weights(soup_file(old, tmp_path / "soup.pth"))
    assert soup.card is None and soup.options == {"pre_groups": 1, "fdr": None}
    vi, cfg = model_from_args(_args(tmp_path / "soup.pth", "toplight_mobilenetv3_small"))
    assert cfg.toplight.fdr == "" and isinstance(vi.backbone.neck, torch.nn.Identity)
    assert legacy_options({"features.0.weight": torch.zeros(1)}) is None  # a library's state_dict: not ours
    library = tmp_path / "library.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, library)
    assert not read_weights(library).own


def test_soup_keeps_the_card_with_one_group(tmp_path):
    top = toplight_plugin.build("lightcnn29_toplight", 3, pre_groups=2, fdr=None, height=32, width=32)
    path = _save(top, tmp_path / "last.pth")
    soup = soup_checkpoint(read_weights(path))
    assert soup["card"]["options"] == {"pre_groups": 1, "fdr": None, "height": 32, "width": 32}
    torch.save(soup, tmp_path / "soup.pth")
    vi = build_from_weights(read_weights(tmp_path / "soup.pth"))
    assert card_of(vi).name == "lightcnn29_toplight" and len(vi.backbone.pre) == 1
    with pytest.raises(ValueError, match="soup.pth: not a two-group .* its model card says 1 pre-embedding group"):
        soup_checkpoint(read_weights(tmp_path / "soup.pth"))


def test_lists_of_models_follow_the_registry():
    assert deployable() == [n for n, c in cards().items() if c.task == "person" and not c.base]
    assert "toplight_ghostnet_130" in deployable() and "lightcnn29" not in deployable()

    def extra_net(num_classes, loss="softmax", pretrained=False, use_gpu=False):
        return toplight_plugin.build("toplight_mobilenetv3_small", num_classes, **SMALL)

    register_model(extra_net, dataclasses.replace(card("toplight_mobilenetv3_small"), name="extra_net"))
    try:
        toplight_plugin.register_variant("extra_net_hs", "toplight_mobilenetv3_small", fdr="hs")
        assert "extra_net" in deployable() and "extra_net_hs" not in deployable()
        assert card("extra_net_hs").base == "toplight_mobilenetv3_small"
    finally:
        MODELS.pop("extra_net")
        MODELS.pop("extra_net_hs", None)


def test_configs_and_pretraining_read_the_card():
    assert load_config(None, ["model.name", "agw_resnet50"]).toplight.fdr == ""  # takes no FDR: decided
    with pytest.raises(ValueError, match="toplight.fdr 'hs' contradicts model.name lightcnn29, which is built without"):
        load_config(None, ["model.name", "lightcnn29", "toplight.fdr", "hs"])
    assert backbone_of("toplight_mobilenetv3_small_nofdr") == "mobilenetv3_small"
    with pytest.raises(ValueError, match="vi_resnet50.: standard pretraining needs a model cut from a library"):
        backbone_of("vi_resnet50")
    cfg = get_default_config()
    cfg.model.name = "agw_resnet50"
    with pytest.raises(ValueError, match="TOP pretraining needs a model with two pre-embedding groups"):
        TOPModel(cfg, 3)


def test_bad_cards_are_refused_in_one_line():
    with pytest.raises(ValueError, match="model card of 'x': unknown hook.s. \\['route_next'\\]"):
        ModelCard("x", "person", True, 8, (), hooks=("route_next",))
    with pytest.raises(ValueError, match="model card of 'x': mean and std need one value per input channel"):
        ModelCard("x", "face", False, 8, (), in_chans=1)
    plain = card("lightcnn29").to_dict()
    with pytest.raises(ValueError, match=r"w.pth: its model card has unknown field\(s\) \['colour'\]"):
        ModelCard.from_dict({**plain, "colour": "red"}, "w.pth")
    with pytest.raises(ValueError, match="w.pth: its 'card' entry is not a model card"):
        ModelCard.from_dict(["lightcnn29"], "w.pth")
    with pytest.raises(ValueError, match="has no model card: build it through the registry"):
        card_of(torch.nn.Linear(1, 1))


def test_the_documented_card_snippets_run():
    text = (ROOT / "docs/models.md").read_text()
    section = re.search(r"## Model cards\n(.*?)(?=\n## )", text, flags=re.S)
    blocks = re.findall(r"```python\n(.*?)```", section[1], flags=re.S)
    assert blocks
    for code in blocks:
        exec(compile(code, "docs/models.md", "exec"), {})

"""torchreid sees every plugin model through its own build_model, on import, idempotently."""

import importlib

import pytest
import torch
from conftest import input_size

import toplight_plugin
from toplight_plugin.core.models.registry import MODELS
from toplight_plugin.hosts.torchreid import compat
from toplight_plugin.hosts.torchreid.register import register_models


@pytest.mark.parametrize("name", sorted(MODELS))
def test_build_model_through_torchreid(name):
    model = compat.models().build_model(name, num_classes=7, loss="triplet", pretrained=False)
    assert isinstance(model, torch.nn.Module)
    h, w = (288, 144) if not name.startswith("lightcnn") else input_size(name)
    with torch.no_grad():
        feats = model.eval()(torch.rand(1, 3, h, w))  # one argument, as torchreid's FeatureExtractor calls it
    assert feats.ndim == 2


@pytest.mark.parametrize("name", sorted(n for n in MODELS if n.startswith("toplight_") and not n.endswith("_nofdr")))
def test_torchreids_default_input_size_runs_through_the_fdr(name):
    """torchreid's build_model cannot pass the input size; the default (spatial) FDR takes any Block4 map, so its
    default 256 x 128 runs on a model built for 288 x 144."""
    model = compat.models().build_model(name, num_classes=7, loss="triplet", pretrained=False)
    assert not isinstance(model.backbone.neck, torch.nn.Identity)
    with torch.no_grad():
        assert model.eval()(torch.rand(2, 3, 256, 128)).shape[0] == 2


def test_variants_are_reachable_by_name_with_their_options_fixed():
    build = compat.models().build_model
    assert isinstance(build("toplight_mobilenetv3_small_nofdr", 7, pretrained=False).backbone.neck, torch.nn.Identity)
    toplight_plugin.register_variant("mbv3s_vs_sigma3", "toplight_mobilenetv3_small", fdr="vs", fdr_mu=4)
    try:
        neck = build("mbv3s_vs_sigma3", 7, loss="triplet", pretrained=False).backbone.neck
        from_plugin = toplight_plugin.build("toplight_mobilenetv3_small", 7, fdr="vs", fdr_mu=4).backbone.neck
        assert len(neck.branches) == 1 and repr(neck) == repr(from_plugin)
        # a config's FDR keys do not undo what the variant is
        assert toplight_plugin.build("toplight_mobilenetv3_small_nofdr", 7, fdr="hs+vs").backbone.neck.__class__ is (
            torch.nn.Identity
        )
    finally:
        MODELS.pop("mbv3s_vs_sigma3")
        compat.model_factory().pop("mbv3s_vs_sigma3")
    with pytest.raises(KeyError, match="unknown base model 'no_such_net'"):
        toplight_plugin.register_variant("x", "no_such_net")


def test_importing_twice_is_harmless():
    table = compat.model_factory()
    before = dict(table)
    importlib.reload(toplight_plugin)
    register_models()
    assert set(table) == set(before)
    assert compat.models().build_model("toplight_mobilenetv3_small", num_classes=3, pretrained=False) is not None


def test_a_foreign_model_of_the_same_name_is_not_overwritten():
    table = compat.model_factory()
    ours = table["toplight_ghostnet_100"]

    def toplight_ghostnet_100(**kwargs):  # someone else's model
        raise AssertionError

    table["toplight_ghostnet_100"] = toplight_ghostnet_100
    try:
        with pytest.raises(KeyError, match="already has a model named 'toplight_ghostnet_100'"):
            register_models()
    finally:
        table["toplight_ghostnet_100"] = ours


def test_compat_reaches_torchreid_data_as_an_attribute():
    assert hasattr(compat.data(), "register_image_dataset")

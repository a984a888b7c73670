"""LightCNN-29 v2 baseline and its TOPLight form: contract, grey input, public checkpoint, routing."""

from __future__ import annotations

import pytest
import torch

import toplight_plugin.core.models.lightcnn  # noqa: F401  (registers the models)
from toplight_plugin.core.models.registry import MODELS

NAMES = ("lightcnn29", "lightcnn29_toplight")
SMALL = dict(height=32, width=32)  # same layers on 1/16 of the pixels (FDR on a 4x4 map): fast CPU tests


def _public_layout() -> dict[str, tuple[int, ...]]:
    """Keys and shapes of LightCNN_29Layers_V2_checkpoint.pth.tar (network_29layers_v2, module.* stripped),
    written out from the public light_cnn.py independently of the code under test."""
    keys: dict[str, tuple[int, ...]] = {}

    def mfm(name, cin, cout, k):
        keys[f"{name}.filter.weight"] = (2 * cout, cin, k, k)
        keys[f"{name}.filter.bias"] = (2 * cout,)

    mfm("conv1", 1, 48, 5)
    widths = [48, 96, 192, 128, 128]
    for i, n in enumerate([1, 2, 3, 4]):
        for j in range(n):
            mfm(f"block{i + 1}.{j}.conv1", widths[i], widths[i], 3)
            mfm(f"block{i + 1}.{j}.conv2", widths[i], widths[i], 3)
        mfm(f"group{i + 1}.conv_a", widths[i], widths[i], 1)
        mfm(f"group{i + 1}.conv", widths[i], widths[i + 1], 3)
    keys["fc.weight"], keys["fc.bias"] = (256, 8 * 8 * 128), (256,)
    keys["fc2.weight"] = (80013, 256)
    return keys


@pytest.fixture(scope="module")
def public_file(tmp_path_factory):
    """A fake public checkpoint: a random model's tensors renamed to the public names, fc2 of 80013 rows."""
    torch.manual_seed(0)
    model = MODELS["lightcnn29"](num_classes=3)
    state = {}
    for key, value in model.state_dict().items():
        name = key.split(".", 3)[3] if key.startswith("backbone.body.") else key.removeprefix("head.")
        state[name] = torch.randn_like(value)
    state["fc2.weight"] = torch.randn(80013, 256)
    layout = _public_layout()
    assert {k: tuple(v.shape) for k, v in state.items()} == layout
    path = tmp_path_factory.mktemp("ckpt") / "LightCNN_29Layers_V2_checkpoint.pth.tar"
    torch.save({"epoch": 1, "arch": "LightCNN-29v2", "state_dict": {f"module.{k}": v for k, v in state.items()}}, path)
    return path, state


@pytest.mark.parametrize("name", NAMES)
def test_contract_shapes_and_gradients(name):
    torch.manual_seed(0)
    model = MODELS[name](num_classes=5, loss="triplet", **SMALL)
    x, modality = torch.rand(4, 1, 32, 32), torch.tensor([0, 1, 0, 1])
    model.eval()
    with torch.no_grad():
        feats = model(x, modality)
    assert feats.shape == (4, 256) and torch.isfinite(feats).all()
    model.train()
    logits, f = model(x, modality)
    assert logits.shape == (4, 5) and f.shape == (4, 256)
    assert torch.isfinite(logits).all() and torch.isfinite(f).all()
    (logits.logsumexp(1).sum() + f.pow(2).mean()).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and (p.grad is None or not p.grad.abs().sum())]
    assert not missing, missing


@pytest.mark.parametrize("name", NAMES)
def test_default_size_softmax_and_single_argument_call(name):
    model = MODELS[name](num_classes=3).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 1, 128, 128)).shape == (2, 256)  # torchreid calls model(x)
    model.train()
    assert model(torch.rand(2, 1, 128, 128), 0).shape == (2, 3)


@pytest.mark.parametrize("name", NAMES)
def test_rgb_input_equals_its_luminance(name):
    torch.manual_seed(1)
    model = MODELS[name](num_classes=3, **SMALL).eval()
    rgb = torch.rand(3, 3, 32, 32)
    grey = (0.299 * rgb[:, 0] + 0.587 * rgb[:, 1] + 0.114 * rgb[:, 2]).unsqueeze(1)
    with torch.no_grad():
        torch.testing.assert_close(model(rgb, 1), model(grey, 1), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="input channels"):
        model(torch.rand(1, 2, 32, 32))


def test_baseline_ignores_modality():
    model = MODELS["lightcnn29"](num_classes=3, **SMALL).eval()
    x = torch.rand(3, 1, 32, 32)
    with torch.no_grad():
        ref = model(x)
        torch.testing.assert_close(model(x, 1), ref)
        torch.testing.assert_close(model(x, torch.tensor([1, 0, 1])), ref)


def _public_name(key: str) -> str | None:
    """backbone.{body.i | stems.m | pre.g.i | post.i}.<public> -> <public>; None for the FDR and fc2."""
    parts = key.split(".")
    if parts[1] == "neck" or key == "head.fc2.weight":
        return None
    return ".".join(parts[4:] if parts[1] == "pre" else parts[3:])


def _assert_loaded(model, state, stems: bool):
    own = model.state_dict()
    names = {k: _public_name(k) for k in own}
    for key, name in names.items():
        if name is not None:
            assert torch.equal(own[key], state[name]), key
    assert set(names.values()) - {None} == set(state) - {"fc2.weight"}  # every public tensor was used
    if stems:  # spelled out: both stems take conv1, every pre-embedding group the same blocks
        for m in (0, 1):
            assert torch.equal(own[f"backbone.stems.{m}.conv1.filter.weight"], state["conv1.filter.weight"])
        for g in range(len(model.backbone.pre)):
            assert torch.equal(own[f"backbone.pre.{g}.0.group1.conv.filter.weight"], state["group1.conv.filter.weight"])
            assert torch.equal(own[f"backbone.pre.{g}.2.group3.conv.filter.bias"], state["group3.conv.filter.bias"])
        assert torch.equal(own["backbone.post.0.block4.3.conv1.filter.weight"], state["block4.3.conv1.filter.weight"])
        assert torch.equal(own["backbone.post.2.fc.weight"], state["fc.weight"])
        assert any(k.startswith("backbone.neck.") for k in own)


def test_public_checkpoint_loads_into_both_models(public_file, caplog):
    path, state = public_file
    full = MODELS["lightcnn29"](num_classes=80013, pretrained=path)
    _assert_loaded(full, state, stems=False)
    assert torch.equal(full.state_dict()["head.fc2.weight"], state["fc2.weight"])

    with caplog.at_level("INFO", logger="toplight_plugin.core.models.lightcnn"):
        small = MODELS["lightcnn29"](num_classes=7, pretrained=str(path))
    _assert_loaded(small, state, stems=False)
    assert small.head.fc2.weight.shape == (7, 256)
    assert "freshly initialised" in caplog.text

    for pre_groups in (1, 2):
        top = MODELS["lightcnn29_toplight"](num_classes=7, pretrained=path, pre_groups=pre_groups)
        _assert_loaded(top, state, stems=True)


def test_public_checkpoint_errors(public_file, tmp_path):
    path, state = public_file
    with pytest.raises(ValueError, match="fc.weight"):
        MODELS["lightcnn29"](num_classes=7, pretrained=path, height=112, width=112)
    v1 = {"conv1.filter.weight": state["conv1.filter.weight"], "fc.filter.weight": torch.zeros(512, 8192)}
    torch.save({"state_dict": v1}, tmp_path / "v1.pth")
    with pytest.raises(ValueError, match="v1"):
        MODELS["lightcnn29"](num_classes=7, pretrained=tmp_path / "v1.pth")
    with pytest.raises(ValueError, match="local"):  # raised before any download is attempted
        MODELS["lightcnn29_toplight"](7, "softmax", True)


@pytest.mark.parametrize("name", NAMES)
def test_own_checkpoint_round_trip(name, tmp_path):
    torch.manual_seed(2)
    saved = MODELS[name](num_classes=4, **SMALL)
    torch.save(saved.state_dict(), tmp_path / "own.pth")
    loaded = MODELS[name](num_classes=4, pretrained=tmp_path / "own.pth", **SMALL)
    for key, value in saved.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key


def test_mixed_batch_routes_each_sample_to_its_stem():
    torch.manual_seed(3)
    model = MODELS["lightcnn29_toplight"](num_classes=3, **SMALL).eval()
    x = torch.rand(5, 1, 32, 32)
    modality = torch.tensor([0, 1, 1, 0, 1])
    with torch.no_grad():
        before = model(x, modality)
        torch.testing.assert_close(before[modality == 0], model(x[modality == 0], 0))
        torch.testing.assert_close(before[modality == 1], model(x[modality == 1], 1))
        model.backbone.stems[1].conv1.filter.weight.add_(
            0.5 * torch.randn_like(model.backbone.stems[1].conv1.filter.weight)
        )
        after = model(x, modality)
    assert torch.equal(after[modality == 0], before[modality == 0])
    assert not torch.allclose(after[modality == 1], before[modality == 1])

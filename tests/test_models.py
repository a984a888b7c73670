"""Every registered model: the torchreid contract, gradients, and per-sample stem routing."""

import pytest
import torch
import torch.nn.functional as F
from conftest import input_size

import toplight_plugin
from toplight_plugin.core.models.batchnorm import recalibrate_batchnorm
from toplight_plugin.core.models.registry import MODELS, card

NAMES = sorted(MODELS)
DUAL = [n for n in NAMES if card(n).dual_path]  # Table 8 baseline B has one path
MODALITY = torch.tensor([0, 1, 1, 0])


def _build(name, **kwargs):
    h, w = input_size(name)
    return toplight_plugin.build(name, num_classes=5, loss="triplet", height=h, width=w, **kwargs), (h, w)


def test_every_expected_model_is_registered():
    expected = {
        "toplight_mobilenetv3_large",
        "toplight_mobilenetv3_small",
        "toplight_shufflenetv2_x1_0",
        "toplight_shufflenetv2_x1_5",
        "toplight_ghostnet_100",
        "toplight_ghostnet_130",
        "lightcnn29",
        "lightcnn29_toplight",
    }
    assert expected <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_train_and_eval_contract_and_gradients(name):
    model, (h, w) = _build(name)
    x = torch.rand(4, 3, h, w)
    model.train()
    pids = torch.tensor([0, 1, 2, 3])
    takes_pids = "takes_pids" in card(name).hooks  # training-only branches that need the identities (DDAG)
    logits, feats, *aux = model(x, MODALITY, pids) if takes_pids else model(x, MODALITY)
    assert logits.shape == (4, 5) and feats.ndim == 2 and feats.shape[0] == 4
    assert torch.isfinite(logits).all() and torch.isfinite(feats).all()
    loss = F.cross_entropy(logits, pids) + feats.pow(2).mean()
    loss = loss + sum(t.sum() for extra in aux for t in extra.values() if t.requires_grad)
    loss.backward()
    no_grad = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not no_grad, f"parameters without gradient: {no_grad[:5]}"
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)
    for stem in getattr(model.backbone, "stems", []):
        assert any(p.grad.abs().sum() > 0 for p in stem.parameters())
    model.eval()
    with torch.no_grad():
        emb = model(x, MODALITY)
    assert emb.shape == feats.shape and torch.isfinite(emb).all()


def _rel(a, b):
    return float((a - b).abs().max() / b.abs().max())


@pytest.mark.parametrize("name", DUAL)
def test_mixed_batch_routes_each_sample_to_its_stem(name):
    """Routing happens before Block4: compare Block4 maps, then check the full model keeps visible rows."""
    model, (h, w) = _build(name)
    x = torch.rand(4, 3, h, w)
    recalibrate_batchnorm(model, [(x, MODALITY)])
    b = model.backbone
    with torch.no_grad():
        before = model(x, MODALITY)
        for p in b.stems[1].parameters():
            p.mul_(1 + 0.3 * torch.randn_like(p))  # the stems now differ, at the same scale
        z = b.forward_pre(x, MODALITY)
        one_by_one = torch.cat([b.forward_pre(x[i : i + 1], int(MODALITY[i])) for i in range(4)])
        swapped = b.forward_pre(x, 1 - MODALITY)
        after = model(x, MODALITY)
    assert _rel(one_by_one, z) < 1e-4
    assert all(_rel(swapped[i], z[i]) > 1e-2 for i in range(4))
    visible, infrared = MODALITY == 0, MODALITY == 1
    torch.testing.assert_close(after[visible], before[visible], rtol=1e-5, atol=1e-5)
    assert _rel(after[infrared], before[infrared]) > 1e-2


def test_single_path_baseline_ignores_the_modality():
    model, (h, w) = _build("lightcnn29")
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(x, 0), model(x, torch.tensor([1, 1])))


@pytest.mark.parametrize("name", ["toplight_mobilenetv3_small", "lightcnn29_toplight"])
def test_image_alone_uses_the_visible_stem_by_default(name):
    model, (h, w) = _build(name)
    model.eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model(x, 0))
        model.backbone.default_modality = 1
        torch.testing.assert_close(model(x), model(x, torch.ones(2, dtype=torch.long)))


def test_softmax_loss_returns_logits_only():
    model, (h, w) = _build("toplight_mobilenetv3_small")
    model.loss = "softmax"
    out = model.train()(torch.rand(2, 3, h, w), 0)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 5)


def test_bad_modality_codes_are_rejected():
    model, (h, w) = _build("toplight_mobilenetv3_small")
    x = torch.rand(2, 3, h, w)
    with pytest.raises(ValueError, match="0 \\(visible\\) or 1 \\(infrared\\)"):
        model(x, torch.tensor([0, 2]))
    with pytest.raises(ValueError, match="3 modality codes for a batch of 2"):
        model(x, torch.tensor([0, 1, 1]))


def test_two_pre_embedding_groups_are_independent():
    model, (h, w) = _build("toplight_mobilenetv3_small", pre_groups=2, fdr=None)
    pre = model.backbone.pre
    assert len(pre) == 2 and pre[0] is not pre[1]
    model.eval()
    x = torch.rand(2, 3, h, w)
    with torch.no_grad():
        before = model.backbone.forward_pre(x, 0)
        for p in pre[1].parameters():
            p.add_(1.0)
        torch.testing.assert_close(model.backbone.forward_pre(x, 0), before)


@pytest.mark.parametrize("last_stride, final_height", [(1, 4), (2, 2)])
def test_last_stride_sets_the_final_map_size(last_stride, final_height):
    model, (h, w) = _build("toplight_ghostnet_100", last_stride=last_stride, fdr=None)
    assert h == 64
    b = model.backbone.eval()
    z = b.forward_pre(torch.rand(2, 3, h, w), 0)
    assert b.post[1](b.post[0](z)).shape[-2] == final_height  # Block6 output: stride 16 or 32
    with pytest.raises(ValueError, match="last_stride must be 1 or 2"):
        _build("toplight_ghostnet_100", last_stride=3)


def test_unknown_model_option_is_named():
    with pytest.raises(TypeError, match=r"unknown model option\(s\) \['fdr_sgima'\]"):
        _build("toplight_mobilenetv3_small", fdr_sgima=2)

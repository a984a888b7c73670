"""TOP losses (Eq. 1-4) and the uniform soup (step 2)."""

import pytest
import torch

import toplight_plugin
from toplight_plugin.cli.soup import soup_file
from toplight_plugin.core.training.soup import uniform_soup
from toplight_plugin.core.training.top_losses import DomainClassifier, GradientReversal, TOPLoss


def test_gradient_reversal_is_identity_forward_and_negated_scaled_backward():
    x = torch.randn(4, 3, requires_grad=True)
    y = GradientReversal(scale=0.7)(x)
    assert torch.equal(y, x)
    weights = torch.randn(4, 3)
    (y * weights).sum().backward()
    torch.testing.assert_close(x.grad, -0.7 * weights)


def _gap_after_step(loss_fn, classifier, a, b):
    """Domain-logit gap (b - a) after one gradient-descent step on the features a, b under ``loss_fn``."""
    a, b = a.clone().requires_grad_(True), b.clone().requires_grad_(True)
    loss_fn(a, b).backward()
    with torch.no_grad():
        before = (classifier.linear(b) - classifier.linear(a)).mean()
        after = (classifier.linear(b - 0.1 * b.grad) - classifier.linear(a - 0.1 * a.grad)).mean()
    return before.item(), after.item()


def test_fake_domain_loss_pushes_mid_features_apart_and_final_features_together():
    torch.manual_seed(0)
    loss = TOPLoss(mid_channels=8, feat_dim=8, identity=None)
    x1, x2 = torch.randn(16, 8), torch.randn(16, 8)
    # Eq. 1-2 on Block4 features: x1 labelled domain 0, x2 domain 1 -> descent separates them.
    before, after = _gap_after_step(lambda a, b: loss.mid(a, 0) + loss.mid(b, 1), loss.mid, x1, x2)
    assert after > before
    # The same labels through the GRL on Block7 features -> descent confuses the classifier: the gap shrinks.
    before, after = _gap_after_step(
        lambda a, b: loss.final(loss.grl(a), 0) + loss.final(loss.grl(b), 1), loss.final, x1, x2
    )
    assert after < before
    # The classifiers themselves are trained normally (no reversal on their weights).
    classifier = DomainClassifier(8)
    classifier(x1, 0).backward()
    assert classifier.linear.weight.grad.abs().sum() > 0


def test_loss_terms_and_switches():
    torch.manual_seed(0)
    x1, x2 = torch.randn(4, 8, 6, 3), torch.randn(4, 8, 6, 3)
    f1, f2, l1, l2 = torch.randn(4, 5), torch.randn(4, 5), torch.randn(4, 10), torch.randn(4, 10)
    labels = torch.tensor([1, 2, 3, 4])
    full = TOPLoss(8, 5)(x1, x2, f1, f2, l1, l2, labels)
    assert set(full) == {"loss", "loss_idc", "loss_fd1", "loss_fd2"}
    torch.testing.assert_close(full["loss"], full["loss_idc"] + full["loss_fd1"] + full["loss_fd2"])
    expected_idc = torch.nn.functional.cross_entropy(l1, labels) + torch.nn.functional.cross_entropy(l2, labels)
    torch.testing.assert_close(full["loss_idc"], expected_idc)
    assert set(TOPLoss(8, 5, identity="id", fake_domain=False)(x1, x2, f1, f2, l1, l2, labels)) == {"loss", "loss_id"}
    with pytest.raises(ValueError, match="at least one"):
        TOPLoss(8, 5, identity=None, fake_domain=False)


def _domain_terms(loss, x, feat, domain):
    """Eq. 1 / 2 written out: L_d on the pooled Block4 map plus L_d on the Block7 feature, label ``domain``."""
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    mid, final = loss.mid.linear(x.mean(dim=(2, 3))).squeeze(1), loss.final.linear(feat).squeeze(1)
    return bce(mid, torch.full_like(mid, float(domain))) + bce(final, torch.full_like(final, float(domain)))


def test_eq1_eq2_values_use_two_different_pseudo_domain_labels():
    torch.manual_seed(0)
    loss = TOPLoss(8, 5, identity=None)
    x1, x2, f1, f2 = torch.randn(6, 8, 4, 2), torch.randn(6, 8, 4, 2), torch.randn(6, 5), torch.randn(6, 5)
    terms = loss(x1, x2, f1, f2, None, None, None)
    torch.testing.assert_close(terms["loss_fd1"], _domain_terms(loss, x1, f1, 0))
    torch.testing.assert_close(terms["loss_fd2"], _domain_terms(loss, x2, f2, 1))
    # With one label for both paths the values differ: the test above is not blind to the labels.
    assert not torch.allclose(_domain_terms(loss, x2, f2, 0), terms["loss_fd2"])


@pytest.mark.parametrize("term", ["loss_fd1", "loss_fd2"])
def test_eq1_eq2_reverse_the_gradient_of_the_final_term_only(term):
    """d term / d x̂ is minus the gradient of the plain L_d on x̂ (the GRL); d term / d x is L_d's own (no GRL)."""
    torch.manual_seed(0)
    loss = TOPLoss(8, 5, identity=None, grl_scale=1.0)
    path = int(term[-1]) - 1
    xs = [torch.randn(6, 8, 4, 2, requires_grad=True) for _ in range(2)]
    feats = [torch.randn(6, 5, requires_grad=True) for _ in range(2)]
    loss(xs[0], xs[1], feats[0], feats[1], None, None, None)[term].backward()
    x, feat = xs[path].detach().requires_grad_(True), feats[path].detach().requires_grad_(True)
    _domain_terms(loss, x, feat, path).backward()
    torch.testing.assert_close(feats[path].grad, -feat.grad)
    torch.testing.assert_close(xs[path].grad, x.grad)
    assert feat.grad.abs().sum() > 0 and x.grad.abs().sum() > 0


def _pretraining_state(name):
    model = toplight_plugin.build(name, num_classes=7, loss="triplet", pre_groups=2, fdr=None, height=64, width=32)
    return model.state_dict()


def test_soup_of_identical_groups_is_the_identity_and_of_different_groups_the_mean():
    state = _pretraining_state("toplight_mobilenetv3_small")
    for key in [k for k in state if k.startswith("backbone.pre.0.")]:
        state[key.replace("pre.0.", "pre.1.")] = state[key].clone()
    same = uniform_soup(state)
    assert all(torch.equal(same[k], state[k]) for k in same)
    assert not any(k.startswith("backbone.pre.1.") for k in same)
    different = _pretraining_state("toplight_mobilenetv3_small")
    torch.manual_seed(1)
    for key in [k for k in different if k.startswith("backbone.pre.1.") and different[k].is_floating_point()]:
        different[key] = different[key] + torch.rand_like(different[key])  # the groups part, as after TOP
    souped = uniform_soup(different)
    for key, value in souped.items():
        if key.startswith("backbone.pre.0.") and value.is_floating_point():
            other = different[key.replace("pre.0.", "pre.1.")]
            torch.testing.assert_close(value, (different[key] + other) / 2, rtol=0, atol=0)
    with pytest.raises(ValueError, match="not a two-group"):
        uniform_soup(same)


@pytest.mark.parametrize("name", sorted(n for n in toplight_plugin.MODELS if n.startswith("toplight_")))
def test_soup_checkpoint_loads_into_every_vi_model(name, tmp_path):
    torch.save({"state_dict": _pretraining_state(name)}, tmp_path / "pretrain.pth")
    soup = soup_file(tmp_path / "pretrain.pth", tmp_path / "soup.pth")
    vi = toplight_plugin.build(name, num_classes=395, loss="triplet", pretrained=str(soup), height=64, width=32,
                               allow_missing=("head.", "backbone.neck."))
    souped = torch.load(soup, weights_only=True)["state_dict"]
    loaded = vi.state_dict()
    # Everything but the classifier (7 pretraining classes vs 395 identities) and the FDR (absent in pretraining).
    for key, value in souped.items():
        if key.startswith("head.classifier"):
            continue
        assert torch.equal(loaded[key], value), key
    assert {k for k in loaded if k not in souped} == {k for k in loaded if k.startswith("backbone.neck.")}

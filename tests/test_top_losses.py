"""TOP losses (Eq. 1-4) and the uniform soup (step 2)."""

import pytest
import torch

import toplight_plugin
from toplight_plugin.cli.soup import soup_file
from toplight_plugin.core.soup import uniform_soup
from toplight_plugin.core.top_losses import DomainClassifier, GradientReversal, TOPLoss


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

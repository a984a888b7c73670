"""The AGW ResNet-50 baseline: structure, the WRT loss, AGW's optimiser recipe and a training run."""

import pytest
import torch
from test_engine import ROOT, tiny

import toplight_plugin
from toplight_plugin.cli import train as train_tool
from toplight_plugin.core.models.agw import GeM, NonLocal
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.losses import IdentityTripletLoss, weighted_regularized_triplet
from toplight_plugin.hosts.torchreid.build import build_optimizer


def test_non_local_has_half_width_inside_and_starts_as_identity():
    block = NonLocal(64)
    assert block.theta.out_channels == block.phi.out_channels == block.g.out_channels == 32
    x = torch.randn(2, 64, 6, 3)
    torch.testing.assert_close(block.eval()(x), x)


def test_non_local_matches_its_formula():
    torch.manual_seed(0)
    block = NonLocal(8).eval()
    torch.nn.init.normal_(block.W[1].weight)
    x = torch.randn(1, 8, 3, 2)
    flat = x.flatten(2)[0]  # (C, N)
    theta, phi, g = (m.weight[:, :, 0, 0] @ flat + m.bias[:, None] for m in (block.theta, block.phi, block.g))
    y = torch.stack([(theta[:, i] @ phi / 6) @ g.T for i in range(6)], dim=1)  # (C', N)
    expected = x + block.W(y.reshape(1, 4, 3, 2))
    torch.testing.assert_close(block(x), expected)


def test_gem_is_the_cubic_mean():
    x = torch.rand(2, 3, 4, 4) + 0.1
    torch.testing.assert_close(GeM()(x), x.pow(3).mean(dim=(2, 3)).pow(1 / 3))


def test_agw_structure_forward_and_backward():
    model = toplight_plugin.build("agw_resnet50", num_classes=5, loss="triplet")
    shared = model.backbone.pre[0]
    assert [type(m).__name__ for m in shared[1]].count("NonLocal") == 2
    assert [type(m).__name__ for m in shared[2]].count("NonLocal") == 3
    assert [i for i, m in enumerate(shared[2]) if isinstance(m, NonLocal)] == [4, 6, 8]  # after blocks 3, 4, 5
    x = torch.randn(4, 3, 64, 32)
    with torch.no_grad():
        z = model.eval().backbone.forward_pre(x, 0)
    assert z.shape == (4, 2048, 4, 2)  # last stride 1: 1/16 of the input
    model.train()
    logits, features = model(x, torch.tensor([0, 1, 0, 1]))
    assert logits.shape == (4, 5) and features.shape == (4, 2048)
    (logits.sum() + features.sum()).backward()
    stems = model.backbone.stems
    assert stems[0][0].weight.grad.abs().sum() > 0 and stems[1][0].weight.grad.abs().sum() > 0


def test_agw_refuses_fdr_options():
    with pytest.raises(TypeError, match="it has no FDR"):
        toplight_plugin.build("agw_resnet50", num_classes=5, fdr="hs+vs")


def test_wrt_against_a_direct_formula():
    torch.manual_seed(0)
    f, pids = torch.randn(8, 5), torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    d = torch.cdist(f, f)
    expected = []
    for i in range(8):
        pos = [d[i, j] for j in range(8) if pids[j] == pids[i]]
        neg = [d[i, j] for j in range(8) if pids[j] != pids[i]]
        wp = torch.softmax(torch.stack(pos), 0)
        wn = torch.softmax(-torch.stack(neg), 0)
        gap = (wp * torch.stack(pos)).sum() - (wn * torch.stack(neg)).sum()
        expected.append(torch.log1p(torch.exp(gap)))
    torch.testing.assert_close(weighted_regularized_triplet(f, pids), torch.stack(expected).mean())
    losses = IdentityTripletLoss(gamma=1.0, triplet="wrt")(torch.randn(8, 4), f, pids % 4)
    assert losses["loss_tri"] == weighted_regularized_triplet(f, pids)


def test_agw_config_gives_agws_staged_sgd():
    cfg = load_config(ROOT / "configs/sysu/agw_resnet50.yaml", ["model.pretrained", "False"])
    model = build_model(cfg, num_classes=5)
    optimizer = build_optimizer(cfg, model)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"]
    base, new = optimizer.param_groups
    assert (base["lr"], new["lr"]) == pytest.approx((0.01, 0.1))
    assert {id(p) for p in new["params"]} == {id(p) for p in model.head.parameters() if p.requires_grad}
    assert len(base["params"]) + len(new["params"]) == len([p for p in model.parameters() if p.requires_grad])
    cfg = load_config(ROOT / "configs/sysu/agw_resnet50.yaml", ["train.new_layers", "['nope']"])
    with pytest.raises(ValueError, match=r"train.new_layers: the model has no module\(s\) \['nope'\]"):
        build_optimizer(cfg, model)


def test_agw_trains_through_the_engine(sysu_root, tmp_path):
    # From random weights at 64 x 32, AGW's lr 0.1 maps every image to one feature within the epoch, which the
    # protocol refuses to score; a smaller rate keeps this a test of the engine path.
    opts = tiny(sysu_root.parent, tmp_path, "train.max_epoch", "1", "toplight.warmup_epochs", "1", "train.lr", "0.001")
    opts[opts.index("model.name") + 1] = "agw_resnet50"
    train_tool.main(["--config-file", str(ROOT / "configs/sysu/agw_resnet50.yaml"), *opts])
    state = torch.load(tmp_path / "last.pth", weights_only=True)
    assert any(".W.1.weight" in k for k in state["state_dict"])  # the non-local blocks were saved
    assert (tmp_path / "results.json").is_file()

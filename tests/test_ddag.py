"""The DDAG baseline: part pooling, IWPA, the graph's edges, the forward contract, the loss, w_G and a training run."""

import pytest
import torch
import torch.nn.functional as F
from test_engine import ROOT, tiny

import toplight_plugin
from toplight_plugin.cli import train as train_tool
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.models.ddag import IWPA, CrossModalityGraph, DynamicDualAggregationLoss, horizontal_parts
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.losses import IdentityTripletLoss
from toplight_plugin.hosts.torchreid.build import build_optimizer


@pytest.mark.parametrize("height", [3, 4, 8, 18])
def test_horizontal_parts_are_adaptive_pooling(height):
    maps = torch.randn(2, 5, height, 3)
    expected = F.adaptive_avg_pool2d(maps, (3, 1))[..., 0].transpose(1, 2)
    torch.testing.assert_close(horizontal_parts(maps, 3), expected)


def test_horizontal_parts_refuse_a_map_shorter_than_the_parts():
    with pytest.raises(ValueError, match="at least 3 rows"):
        horizontal_parts(torch.randn(1, 4, 2, 2), 3)


def test_iwpa_matches_its_formula():
    torch.manual_seed(0)
    iwpa = IWPA(channels=6, parts=3).eval()
    torch.nn.init.normal_(iwpa.part_weight)
    maps, feature = torch.randn(2, 6, 6, 2), torch.randn(2, 6)
    expected = []
    for n in range(2):
        p = torch.stack([maps[n, :, 2 * i:2 * i + 2].mean(dim=(1, 2)) for i in range(3)])  # (P, C)
        q, k, v = iwpa.query(p), iwpa.key(p), iwpa.value(p)
        refined = torch.softmax(q @ k.T, dim=1) @ v
        expected.append((torch.softmax(iwpa.part_weight, 0)[:, None] * refined).sum(0) + feature[n])
    torch.testing.assert_close(iwpa(maps, feature), iwpa.bn(torch.stack(expected)))


def test_graph_attends_only_within_identities_and_across_modalities():
    torch.manual_seed(0)
    graph = CrossModalityGraph(in_dim=8, num_classes=3, heads=2, width=4).eval()
    pids = torch.tensor([0, 1, 2, 0, 1, 2])  # visible images first, then infrared, as the PK batch holds them
    x = torch.randn(6, 8)
    edges = pids[:, None] == pids[None, :]
    for head in (*graph.heads, graph.out):
        alpha, _ = head.attention(torch.randn(6, head.weight.shape[0]), edges)
        assert (alpha[~edges] == 0).all()
        assert (alpha[edges] > 0).all()  # itself and its image in the other modality
        torch.testing.assert_close(alpha.sum(dim=1), torch.ones(6))
    before = graph(x, pids)
    changed = x.clone()
    changed[pids != 0] = torch.randn(4, 8)  # other identities' features do not reach identity 0's nodes
    after = graph(changed, pids)
    torch.testing.assert_close(after[pids == 0], before[pids == 0])
    assert not torch.allclose(after[pids != 0], before[pids != 0])


def test_ddag_forward_contract_and_gradients():
    model = toplight_plugin.build("ddag_resnet50", num_classes=4, loss="triplet")
    x, modality, pids = torch.randn(8, 3, 64, 32), torch.tensor([0] * 4 + [1] * 4), torch.tensor([0, 1, 2, 3] * 2)
    with torch.no_grad():
        assert model.eval()(x, modality).shape == (8, 2048)  # the IWPA feature
        assert model(x, modality, return_featuremaps=True).shape == (8, 2048, 4, 2)  # last stride 1
    model.train()
    logits, pooled = model(x, modality)  # torchreid's stock engines: no identities, no graph
    assert logits.shape == (8, 4) and pooled.shape == (8, 2048)
    logits, pooled, aux = model(x, modality, pids)
    assert aux["part_logits"].shape == aux["graph"].shape == (8, 4)
    torch.testing.assert_close(aux["graph"].exp().sum(dim=1), torch.ones(8))
    losses = DynamicDualAggregationLoss(IdentityTripletLoss(gamma=1.0))(logits, pooled, pids, aux)
    assert float(aux["graph_weight"]) == 0.0  # the first epoch trains without the graph loss
    torch.testing.assert_close(losses["loss"], losses["loss_instance"])
    model.graph_weight.fill_(0.25)
    losses = DynamicDualAggregationLoss(IdentityTripletLoss(gamma=1.0))(logits, pooled, pids, aux)
    torch.testing.assert_close(losses["loss_instance"], losses["loss_id"] + losses["loss_tri"] + losses["loss_part"])
    torch.testing.assert_close(losses["loss"], losses["loss_instance"] + 0.25 * losses["loss_graph"])
    losses["loss"].backward()
    for module in (model.head.iwpa.query, model.head.graph.heads[0], model.head.graph.out, *model.backbone.stems):
        assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in module.parameters())


def test_ddag_refuses_fdr_options():
    with pytest.raises(TypeError, match="it has no FDR"):
        toplight_plugin.build("ddag_resnet50", num_classes=5, fdr="hs+vs")


@pytest.mark.parametrize("dataset", ["sysu", "regdb"])
def test_ddag_config_gives_ddags_recipe(dataset):
    cfg = load_config(ROOT / f"configs/{dataset}/ddag_resnet50.yaml", ["model.pretrained", "False"])
    model = build_model(cfg, num_classes=5)
    optimizer = build_optimizer(cfg, model)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["nesterov"]
    base, new = optimizer.param_groups
    assert (base["lr"], new["lr"]) == pytest.approx((0.01, 0.1))
    trained = {id(p) for p in model.head.parameters() if p.requires_grad}
    assert {id(p) for p in new["params"]} == trained
    branches = [*model.head.graph.parameters(), *model.head.iwpa.parameters()]
    assert {id(p) for p in branches if p.requires_grad} < trained
    assert (cfg.toplight.triplet, cfg.loss.triplet.weight_t, cfg.toplight.augment) == ("batch_hard", 1.0, "pad_crop")


def test_ddag_trains_through_the_engine_and_keeps_w_g(sysu_root, tmp_path, capsys):
    opts = tiny(sysu_root.parent, tmp_path, "train.max_epoch", "1", "toplight.warmup_epochs", "1", "train.lr", "0.001")
    opts[opts.index("model.name") + 1] = "ddag_resnet50"
    train_tool.main(["--config-file", str(ROOT / "configs/sysu/ddag_resnet50.yaml"), *opts])
    state = torch.load(tmp_path / "last.pth", weights_only=True)["state_dict"]
    weight = float(state["graph_weight"])
    assert 0.0 < weight < 1.0  # set after the epoch from its mean instance loss, kept for a resume
    assert any(k.startswith("head.graph.") for k in state) and (tmp_path / "results.json").is_file()


def test_gradcam_explains_the_iwpa_feature():
    from toplight_plugin.core.analysis.gradcam import grad_cam

    model = toplight_plugin.build("ddag_resnet50", num_classes=3).eval()
    images = torch.randn(2, 3, 64, 32)
    z = model.backbone.forward_pre(images, 0).detach().requires_grad_(True)  # the layer4 maps
    (grad,) = torch.autograd.grad(model.retrieval_features(z).pow(2).sum() / 2, z)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * z).sum(1, keepdim=True)).detach()
    cam = F.interpolate(cam, size=(64, 32), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1)[:, None, None]
    torch.testing.assert_close(grad_cam(model, images, 0)["Block4"], cam / torch.where(peak > 0, peak, 1.0))

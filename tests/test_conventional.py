"""Table 4's conventional networks: the paper's FLOPs where a standard network gives them, maps for torchreid's
tools, ImageNet weights of another input size resampled as they load, and their configs."""

import pytest
import torch
import torch.nn.functional as F
from test_engine import ROOT

import toplight_plugin
from toplight_plugin.core.analysis.flops import count_mflops
from toplight_plugin.core.models.backbones import library_model
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.models.conventional import CONVENTIONAL
from toplight_plugin.core.training.config import load_config


@pytest.mark.parametrize(("name", "paper"), [("vi_resnet50", 3562), ("vi_convnext_tiny", 3620)])
def test_flops_match_table_4_within_5_percent(name, paper):
    model = toplight_plugin.build(name, num_classes=1)
    assert abs(count_mflops(model, (288, 144)) / paper - 1) < 0.05


@pytest.mark.parametrize(("name", "maps"), [("vi_resnet50", (2048, 2, 1)), ("vi_convnext_tiny", (768, 2, 1)),
                                            ("vi_vit_b16", (768, 4, 2)), ("vi_swin_tiny", (768, 2, 1))])  # fmt: skip
def test_feature_maps_are_channels_first_on_the_grid(name, maps):
    model = toplight_plugin.build(name, num_classes=3, height=64, width=32).eval()
    x = torch.rand(2, 3, 64, 32)
    with torch.no_grad():
        out = model(x, torch.tensor([0, 1]), return_featuremaps=True)
        features = model.backbone(x, torch.tensor([0, 1]))
    assert tuple(out.shape) == (2, *maps)
    if name == "vi_swin_tiny":  # its pooling is the mean of these maps
        torch.testing.assert_close(out.mean(dim=(2, 3)), features)


@pytest.mark.parametrize("network", ["vit_b16", "swin_tiny"])
def test_imagenet_weights_of_224_load_into_another_size(network):
    import timm

    spec = CONVENTIONAL[network]
    state = timm.create_model(spec.arch, pretrained=False).state_dict()  # the ImageNet file's layout, 224 x 224
    model = library_model(spec, state, "imagenet.pth", size=(64, 32))
    if network == "vit_b16":
        assert model.pos_embed.shape == (1, 1 + 4 * 2, 768)  # resampled to the 4 x 2 patch grid
        torch.testing.assert_close(model.cls_token, state["cls_token"])
    else:
        torch.testing.assert_close(model.patch_embed.proj.weight, state["patch_embed.proj.weight"])


@pytest.mark.parametrize("dataset", ["sysu", "regdb"])
@pytest.mark.parametrize("network", sorted(CONVENTIONAL))
def test_configs_build_their_network(dataset, network):
    cfg = load_config(ROOT / f"configs/{dataset}/{network}.yaml", ["model.pretrained", "False"])
    assert cfg.model.name == f"vi_{network}" and (cfg.data.height, cfg.data.width) == (288, 144)
    model = build_model(cfg, num_classes=4)
    assert len(model.backbone.stems) == 2 and model.head.classifier.out_features == 4


def test_gradcam_explains_vits_last_block_input():
    """The patch tokens after ViT's last block do not reach the class-token feature (zero gradient); its last block's
    normalised input does."""
    from toplight_plugin.core.analysis.gradcam import grad_cam

    model = toplight_plugin.build("vi_vit_b16", num_classes=3, height=64, width=32).eval()  # a 4 x 2 patch grid
    images = torch.randn(2, 3, 64, 32)
    caught = []
    handle = model.backbone.pre[0].blocks[-1].norm1.register_forward_hook(lambda m, a, out: caught.append(out))
    feature = model.retrieval_features(model.backbone.post(model.backbone.forward_pre(images, 0)))
    handle.remove()
    tokens = caught[0]
    (grad,) = torch.autograd.grad(feature.pow(2).sum() / 2, tokens)
    maps = tokens.detach()[:, 1:].transpose(1, 2).reshape(2, 768, 4, 2)
    grad = grad[:, 1:].transpose(1, 2).reshape(2, 768, 4, 2)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * maps).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(64, 32), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1)[:, None, None]
    assert (peak > 0).all()
    torch.testing.assert_close(grad_cam(model, images, 0)["last block"], cam / peak)


def test_gradcam_refuses_tokens_it_has_no_layer_for():
    import dataclasses

    from toplight_plugin.core.analysis.gradcam import grad_cam

    model = toplight_plugin.build("vi_vit_b16", num_classes=3, height=64, width=32)  # 1 + 4 x 2 tokens
    model.card = dataclasses.replace(model.card, hooks=())  # a token model whose card names no cam_layer
    expected = r"Grad-CAM needs \(N, C, H, W\) maps at Block4; this model gives \(1, 9, 768\) \(tokens\)"
    with pytest.raises(ValueError, match=expected):
        grad_cam(model, torch.rand(1, 3, 64, 32), 0)


def test_gradcam_reads_swins_channels_last_maps_as_maps():
    """Swin's Block4 output is (N, H, W, C): read as (N, C, H, W) the map has the 4 x 2 grid, not C x W."""
    from toplight_plugin.core.analysis.gradcam import grad_cam

    model = toplight_plugin.build("vi_swin_tiny", num_classes=3, height=128, width=64).eval()
    images = torch.randn(2, 3, 128, 64)
    z = model.backbone.forward_pre(images, 1).detach().requires_grad_(True)
    assert z.shape[1:] == (4, 2, 768)
    (grad,) = torch.autograd.grad(model.retrieval_features(model.backbone.post(z)).pow(2).sum() / 2, z)
    maps, grad = z.detach().permute(0, 3, 1, 2), grad.permute(0, 3, 1, 2)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * maps).sum(1, keepdim=True))
    cam = F.interpolate(cam, size=(128, 64), mode="bilinear", align_corners=False)[:, 0]
    peak = cam.flatten(1).amax(1)[:, None, None]
    torch.testing.assert_close(grad_cam(model, images, 1)["Block4"], cam / torch.where(peak > 0, peak, 1.0))

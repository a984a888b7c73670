"""Weight loading: library ImageNet files into both stems, own checkpoints, refusal of pickled code."""

import collections

import pytest
import timm
import torch
import torchvision
from safetensors.torch import save_file

import toplight_plugin
from toplight_plugin.core.models.backbones import build_blocks
from toplight_plugin.core.models.weights import load_state_dict_file

SIZE = dict(height=64, width=32)


def _assert_same(module, reference):
    for (name, a), b in zip(module.state_dict().items(), reference.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)


def test_torchvision_imagenet_file_initialises_both_stems(tmp_path):
    ref = torchvision.models.mobilenet_v3_small()
    path = tmp_path / "mbv3s.pth"
    torch.save(ref.state_dict(), path)
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, pretrained=str(path), **SIZE)
    for stem in model.backbone.stems:
        _assert_same(stem, ref.features[0])
    _assert_same(model.backbone.pre[0][0], ref.features[1])
    _assert_same(model.backbone.post[2][3], ref.classifier[0])


def test_timm_safetensors_file_and_module_prefix(tmp_path):
    ref = timm.create_model("ghostnet_100")
    path = tmp_path / "ghost.safetensors"
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    model = toplight_plugin.build("toplight_ghostnet_100", num_classes=3, pretrained=path, **SIZE)
    _assert_same(model.backbone.stems[1][0], ref.conv_stem)
    wrapped = tmp_path / "ghost.pth.tar"
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}, "epoch": 3}, wrapped)
    assert load_state_dict_file(wrapped).keys() == ref.state_dict().keys()


def test_wrong_imagenet_file_names_the_mismatch(tmp_path):
    path = tmp_path / "large.pth"
    torch.save(torchvision.models.mobilenet_v3_large().state_dict(), path)
    with pytest.raises(ValueError, match=r"large\.pth: does not fit MobileNetV3: .*wrong shape"):
        toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, pretrained=path, **SIZE)


class Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": collections.OrderedDict(w=torch.zeros(1)), "extra": Payload()}, path)
    with pytest.raises(ValueError, match=r"evil\.pth: refused to load"):
        load_state_dict_file(path)


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pth"):
        load_state_dict_file(tmp_path / "nope.pth")
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.pth"):
        load_state_dict_file(junk)


def test_own_checkpoint_round_trip_keeps_backbone_and_resets_classifier(tmp_path):
    src = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, **SIZE)
    path = tmp_path / "vi.pth"
    torch.save(src.state_dict(), path)
    dst = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=9, pretrained=path, **SIZE)
    _assert_same(dst.backbone, src.backbone)
    assert dst.head.classifier.weight.shape == (9, dst.head.classifier.weight.shape[1])


def test_a_diverged_checkpoint_is_refused_not_loaded(tmp_path):
    state = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, **SIZE).state_dict()
    state["backbone.stems.0.0.weight"][0, 0, 0, 0] = float("nan")
    path = tmp_path / "soup.pth"
    torch.save(state, path)
    with pytest.raises(ValueError, match=r"soup.pth: 1 tensors hold NaN or inf values \(e.g. backbone.stems.0.0"):
        toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, pretrained=path, **SIZE)


def test_top_checkpoint_without_fdr_loads_when_named_and_two_groups_ask_for_the_soup(tmp_path):
    top = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, fdr=None, **SIZE)
    path = tmp_path / "soup.pth"
    torch.save(top.state_dict(), path)
    vi = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, pretrained=path,
                               allow_missing=("head.", "backbone.neck."), **SIZE)  # fmt: skip
    _assert_same(vi.backbone.stems, top.backbone.stems)
    two = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, fdr=None, pre_groups=2, **SIZE)
    torch.save(two.state_dict(), path)
    with pytest.raises(ValueError, match="merge it with tools/soup.py"):
        toplight_plugin.build("toplight_mobilenetv3_small", num_classes=4, pretrained=path, **SIZE)


def test_ghostnet_130_has_no_published_imagenet_weights():
    with pytest.raises(ValueError, match="publishes no ImageNet weights for ghostnet_130"):
        build_blocks("ghostnet_130", True)

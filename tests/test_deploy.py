"""ONNX export with parity, the shared embedder, the search tool and the CPU benchmark in its quick form."""

import json

import numpy as np
import onnx
import pytest
import torch
from conftest import input_size

import toplight_plugin
from toplight_plugin.cli import benchmark as benchmark_tool
from toplight_plugin.cli import export_onnx as export_tool
from toplight_plugin.cli import search as search_tool
from toplight_plugin.core.deploy.benchmark import random_batches
from toplight_plugin.core.deploy.embedder import OnnxEmbedder, TorchEmbedder, load_batch
from toplight_plugin.core.deploy.export import FeatureGraph, Parity, export_onnx, onnx_session, parity
from toplight_plugin.core.models.batchnorm import recalibrate_batchnorm


@pytest.mark.parametrize("name", sorted(toplight_plugin.MODELS))
def test_every_model_exports_with_parity(name, tmp_path):
    h, w = input_size(name)
    model = toplight_plugin.build(name, num_classes=3, height=h, width=w)
    recalibrate_batchnorm(model, random_batches(h, w))
    path = export_onnx(model, tmp_path / "m.onnx", h, w, {"model": name})
    check = parity(model, path, h, w)
    assert check.ok and check.error < 1e-3 and check.cosine > 0.99999, check


@pytest.mark.parametrize("modality", [0, 1])
def test_a_one_modality_graph_holds_one_stem_and_matches_pytorch_for_its_modality(modality, tmp_path):
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32)
    recalibrate_batchnorm(model, random_batches(64, 32))
    with torch.no_grad():  # stems that differ, so the graph's answer says which stem it holds
        model.backbone.stems[1 - modality][0].weight.mul_(-1)
    path = export_onnx(model, tmp_path / "m.onnx", 64, 32, {}, modality=modality)
    assert parity(model, path, 64, 32, modality=modality).ok
    both = export_onnx(model, tmp_path / "both.onnx", 64, 32, {})
    one, two = (onnx.load(str(p)).graph for p in (path, both))
    assert [i.name for i in one.input] == ["images"]
    assert [n.op_type for n in two.node].count("Where") == [n.op_type for n in one.node].count("Where") + 1
    assert sum(n.op_type == "Conv" for n in two.node) == sum(n.op_type == "Conv" for n in one.node) + 1  # one stem
    images = np.random.default_rng(0).random((3, 3, 64, 32), dtype=np.float32)
    own = onnx_session(path).run(None, {"images": images})[0]
    codes = np.full(3, modality, np.int64)
    np.testing.assert_allclose(own, onnx_session(both).run(None, {"images": images, "modality": codes})[0], atol=1e-5)
    other = onnx_session(both).run(None, {"images": images, "modality": 1 - codes})[0]
    assert np.abs(own - other).max() > 1e-2


def test_parity_tolerance_follows_the_float32_error():
    """A graph may round a few times as much as PyTorch's own float32 run does, measured against float64."""
    assert Parity(error=3e-4, float32_error=1e-4, cosine=0.9999996).ok  # deep nets with O(1) activations
    assert not Parity(error=3e-4, float32_error=1e-5, cosine=0.99999).ok  # a real difference in a precise net
    assert Parity(error=1e-6, float32_error=0.0, cosine=1.0).ok  # never below a few ulps
    assert not Parity(error=float("nan"), float32_error=1e-6, cosine=float("nan")).ok
    assert not Parity(error=float("inf"), float32_error=float("inf"), cosine=float("nan")).ok


def test_graph_has_a_dynamic_batch_and_a_per_image_modality(tmp_path):
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32)
    recalibrate_batchnorm(model, random_batches(64, 32))
    session = onnx_session(export_onnx(model, tmp_path / "m.onnx", 64, 32, {}))
    images = np.random.default_rng(0).random((5, 3, 64, 32), dtype=np.float32)
    modality = np.array([0, 1, 1, 0, 1], dtype=np.int64)
    (mixed,) = session.run(None, {"images": images, "modality": modality})
    for m in (0, 1):
        rows = modality == m
        (alone,) = session.run(None, {"images": images[rows], "modality": modality[rows]})
        np.testing.assert_allclose(mixed[rows], alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=1), 1, atol=1e-5)
    assert not np.allclose(mixed[0], session.run(None, {"images": images[:1], "modality": np.ones(1, np.int64)})[0])


def test_pretraining_models_are_refused():
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32, pre_groups=2)
    with pytest.raises(ValueError, match="tools/soup.py"):
        FeatureGraph(model)


def test_export_tool_from_a_checkpoint(tmp_path):
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32, fdr=None)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "ckpt.pth")
    out = tmp_path / "m.onnx"
    check = export_tool.main(["--output", str(out), "--model", "toplight_mobilenetv3_small", "--weights",
                              str(tmp_path / "ckpt.pth"), "data.height", "64", "data.width", "32"])  # fmt: skip
    assert check.ok
    embedder = OnnxEmbedder(out)
    assert (embedder.height, embedder.width) == (64, 32)


def test_search_ranks_copies_of_gallery_images_first(sysu_root, tmp_path):
    """Copies of gallery images as queries: the untrained network's two stems start equal, so each copy's
    nearest gallery image is its original, through PyTorch and through ONNX alike."""
    gallery = sysu_root / "cam1"
    originals = [sorted(d.glob("*.jpg"))[0] for d in sorted(gallery.iterdir())[:3]]
    for path in originals:
        (tmp_path / "q" / path.parent.name).mkdir(parents=True)
        (tmp_path / "q" / path.parent.name / "copy.jpg").write_bytes(path.read_bytes())
    common = ["--gallery", str(gallery), "--query", str(tmp_path / "q"), "--top-k", "4"]
    size = ["data.height", "64", "data.width", "32"]
    rankings = search_tool.main([*common, "--output", str(tmp_path / "pt"), "--model", "toplight_mobilenetv3_small",
                                 *size])  # fmt: skip
    assert [r.gallery[0] for r in rankings] == originals
    assert all(r.matches[0] and r.distances[0] < 1e-4 for r in rankings)
    assert (tmp_path / "pt" / "results.png").stat().st_size > 0
    saved = json.loads((tmp_path / "pt" / "results.json").read_text())
    assert [q["results"][0]["match"] for q in saved] == [True] * 3

    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, height=64, width=32)
    export_onnx(model, tmp_path / "m.onnx", 64, 32, {})
    via_onnx = search_tool.main([*common, "--output", str(tmp_path / "ox"), "--onnx", str(tmp_path / "m.onnx")])
    assert [r.gallery[0] for r in via_onnx] == originals


def test_torch_and_onnx_embedders_agree_on_files(sysu_root, tmp_path):
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, height=64, width=32)
    recalibrate_batchnorm(model, random_batches(64, 32))
    files = sorted((sysu_root / "cam3").rglob("*.jpg"))[:5]
    torch_features = TorchEmbedder(model, 64, 32).embed_files(files, 1, batch_size=2)
    onnx_features = OnnxEmbedder(export_onnx(model, tmp_path / "m.onnx", 64, 32, {})).embed_files(files, 1)
    np.testing.assert_allclose(torch_features, onnx_features, atol=1e-4)
    assert load_batch(files[:1], 64, 32).shape == (1, 3, 64, 32)


def test_quick_benchmark_measures_every_case(tmp_path):
    doc = tmp_path / "bench.md"
    doc.write_text("before\n<!-- cpu:begin -->\nold\n<!-- cpu:end -->\nafter\n")
    result = benchmark_tool.main(["--models", "toplight_mobilenetv3_small", "agw_resnet50", "--batches", "1", "2",
                                  "--height", "64", "--width", "32", "--rounds", "1", "--seconds", "0",
                                  "--write", str(doc)])  # fmt: skip
    for row in result["models"].values():
        rates = [v for k, v in row.items() if "@" in k]
        assert len(rates) == 6 and all(r > 0 for r in rates)
    text = doc.read_text()
    assert "old" not in text and "| agw_resnet50 |" in text and "FLOPs ratio" in text and text.endswith("after\n")


def test_gradcam_maps_before_and_after_fdr(sysu_root, tmp_path):
    from toplight_plugin.cli import gradcam as gradcam_tool
    from toplight_plugin.core.analysis.gradcam import grad_cam

    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, height=64, width=32)
    recalibrate_batchnorm(model, random_batches(64, 32))
    maps = grad_cam(model, torch.randn(3, 3, 64, 32), 1)
    assert set(maps) == {"before FDR", "after FDR"}
    for cam in maps.values():
        assert cam.shape == (3, 64, 32) and cam.min() >= 0 and torch.allclose(cam.flatten(1).amax(1), torch.ones(3))
    # the "before FDR" map from first principles: d(|e|^2 / 2)/dZ at Block4, pooled into channel weights
    images = torch.randn(3, 3, 64, 32, generator=torch.Generator().manual_seed(1))
    z = model.backbone.forward_pre(images, 1).detach().requires_grad_(True)
    e = model.head.embed(model.backbone.forward_post(z))
    (grad,) = torch.autograd.grad(e.pow(2).sum() / 2, z)
    cam = torch.relu((grad.mean(dim=(2, 3), keepdim=True) * z).sum(1, keepdim=True)).detach()
    cam = torch.nn.functional.interpolate(cam, size=(64, 32), mode="bilinear", align_corners=False)[:, 0]
    expected = cam / cam.flatten(1).amax(1)[:, None, None]
    torch.testing.assert_close(grad_cam(model, images, 1)["before FDR"], expected)
    plain = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, height=64, width=32, fdr=None)
    assert set(grad_cam(plain, torch.randn(2, 3, 64, 32), 0)) == {"Block4"}
    out = tmp_path / "cam.png"
    files = [str(p) for p in sorted((sysu_root / "cam3").rglob("*.jpg"))[:2]]
    shown = gradcam_tool.main(["--images", *files, "--modality", "infrared", "--output", str(out), "--model",
                               "toplight_mobilenetv3_small", "data.height", "64", "data.width", "32"])  # fmt: skip
    assert out.stat().st_size > 0 and shown["after FDR"].shape == (2, 64, 32)


def test_profile_names_where_the_time_goes(tmp_path):
    doc = tmp_path / "bench.md"
    doc.write_text("<!-- cpu-profile:begin -->\n<!-- cpu-profile:end -->\n")
    profiles = benchmark_tool.main(["--profile", "toplight_mobilenetv3_small", "--batches", "2", "--height", "64",
                                    "--width", "32", "--write", str(doc)])  # fmt: skip
    shares = profiles["toplight_mobilenetv3_small"]
    assert "aten::mkldnn_convolution" in shares["eager"] or "aten::_slow_conv2d_forward" in shares["eager"]
    assert "Conv" in shares["onnxruntime"] or "FusedConv" in shares["onnxruntime"]
    assert all(0 < s <= 100 for backend in shares.values() for s in backend.values())
    assert "| toplight_mobilenetv3_small | onnxruntime |" in doc.read_text()

"""Edge deployment: INT8 export calibrated on a folder, the OpenVINO runtime at a stated precision, one-modality graphs
in the tools, and the all-search accuracy of exported graphs against a float32 reference."""

import gc
import sys

import numpy as np
import onnx
import pytest
import torch

import toplight_plugin
from toplight_plugin.cli import benchmark as benchmark_tool
from toplight_plugin.cli import deploy_eval as deploy_eval_tool
from toplight_plugin.cli import export_onnx as export_tool
from toplight_plugin.cli import search as search_tool
from toplight_plugin.cli.console import run
from toplight_plugin.core.deploy.edge_bench import PATHS
from toplight_plugin.core.deploy.embedder import OnnxEmbedder, graph_embedders, load_batch
from toplight_plugin.core.deploy.quantize import expected_cosine
from toplight_plugin.core.deploy.runtime import GraphSession

SIZE = ["data.height", "64", "data.width", "32"]


@pytest.fixture(scope="module")
def graphs(sysu_root, tmp_path_factory):
    """A visible and an infrared float32 graph of an untrained model and their INT8 forms calibrated on the synthetic
    images. Its BatchNorm statistics stay the initial ones: re-estimated on images, a random network amplifies
    small input changes (it is chaotic; 8-bit rounding then leaves cosine 0.5), which a trained one does not."""
    folder = tmp_path_factory.mktemp("graphs")
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32)
    torch.save({"state_dict": model.state_dict()}, folder / "model.pth")
    common = ["--model", "toplight_mobilenetv3_small", "--weights", str(folder / "model.pth"), *SIZE]
    for modality in ("visible", "infrared"):
        assert export_tool.main([*common, "--modality", modality, "--output", str(folder / f"{modality}.onnx")]).ok
        export_tool.main([*common, "--modality", modality, "--int8", "--calibrate", str(sysu_root),
                          "--calibration-images", "48", "--output", str(folder / f"{modality}_int8.onnx")])  # fmt: skip
    return folder


def test_int8_graph_is_qdq_calibrated_per_modality_and_runs_in_both_runtimes(graphs, sysu_root):
    path = graphs / "infrared_int8.onnx"
    proto = onnx.load(str(path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta["precision"] == "int8" and meta["modality"] == "infrared" and meta["height"] == "64"
    assert "(0 visible, 48 infrared)" in meta["calibration"]
    ops = [node.op_type for node in proto.graph.node]
    assert ops.count("QuantizeLinear") > 20 and "DequantizeLinear" in ops
    images = load_batch(sorted((sysu_root / "cam3").rglob("*.jpg"))[:12], 64, 32)
    codes = np.ones(len(images), np.int64)
    reference = GraphSession(graphs / "infrared.onnx").run(images, codes)
    for runtime, precision in (("onnxruntime", "fp32"), ("openvino", "fp32"), ("openvino", "bf16")):
        session = GraphSession(path, runtime, precision)
        assert session.ran == f"int8 + {precision}"
        cosine = (session.run(images, codes) * reference).sum(axis=1)
        assert cosine.mean() >= expected_cosine(path) - 0.005, (runtime, precision, cosine.mean())


def test_openvino_runs_the_float_graph_at_the_precision_asked(graphs, sysu_root):
    images = load_batch(sorted((sysu_root / "cam1").rglob("*.jpg"))[:5], 64, 32)
    codes = np.zeros(5, np.int64)
    reference = GraphSession(graphs / "visible.onnx").run(images, codes)
    fp32 = GraphSession(graphs / "visible.onnx", "openvino", "fp32")
    assert fp32.ran == "fp32"
    np.testing.assert_allclose(fp32.run(images, codes), reference, atol=1e-5)
    bf16 = GraphSession(graphs / "visible.onnx", "openvino", "bf16").run(images, codes)
    assert 0.99 < (bf16 * reference).sum(axis=1).min() < 1 - 1e-7  # bfloat16 keeps 8 mantissa bits: not float32
    with pytest.raises(ValueError, match="onnxruntime's CPU kernels compute in fp32 only"):
        GraphSession(graphs / "visible.onnx", "onnxruntime", "bf16")


def _alternate_stack_is_mapped() -> bool:
    import ctypes

    class Stack(ctypes.Structure):
        _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

    stack = Stack()
    assert ctypes.CDLL(None).sigaltstack(None, ctypes.byref(stack)) == 0
    if not stack.sp:
        return True  # none set: signals run on the ordinary stack
    spans = (line.split()[0].split("-") for line in open("/proc/self/maps"))
    return any(int(lo, 16) <= stack.sp < int(hi, 16) for lo, hi in spans)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/maps")
def test_openvino_sessions_released_in_creation_order_leave_a_valid_signal_stack(graphs):
    """Each OpenVINO Core's CPU plugin swaps the thread's alternate signal stack; released first-in first-out, two
    Cores left it in unmapped memory and the next SIGCHLD killed the process (seen as a crashed pytest worker)."""
    first = GraphSession(graphs / "visible.onnx", "openvino")
    second = GraphSession(graphs / "infrared.onnx", "openvino")
    assert first.core is second.core
    del first, second
    gc.collect()
    assert _alternate_stack_is_mapped()


def test_a_one_modality_graph_refuses_the_other_modality_and_pairs_with_its_twin(graphs):
    embedder = OnnxEmbedder(graphs / "visible.onnx")
    with pytest.raises(ValueError, match="exported for visible images only"):
        embedder(np.zeros((1, 3, 64, 32), np.float32), 1)
    pair = graph_embedders([graphs / "infrared.onnx", graphs / "visible.onnx"])
    assert (pair[0].path.name, pair[1].path.name) == ("visible.onnx", "infrared.onnx")
    with pytest.raises(ValueError, match="give the infrared graph too"):
        graph_embedders([graphs / "visible.onnx"])
    with pytest.raises(ValueError, match="both serve visible images"):
        graph_embedders([graphs / "visible.onnx", graphs / "visible_int8.onnx"])


def test_search_with_int8_graphs_in_openvino(graphs, sysu_root, tmp_path):
    queries = sorted((sysu_root / "cam3").rglob("*.jpg"))[:2]
    int8 = [str(graphs / "visible_int8.onnx"), str(graphs / "infrared_int8.onnx")]
    rankings = search_tool.main(["--gallery", str(sysu_root / "cam1"), "--query", *map(str, queries), "--onnx", *int8,
                                 "--runtime", "openvino", "--batch-size", "64", "--top-k", "3", "--output",
                                 str(tmp_path)])  # fmt: skip
    assert [r.query for r in rankings] == queries and len(rankings[0].gallery) == 3
    assert (tmp_path / "results.png").is_file()


def test_accuracy_of_exported_graphs_against_the_float32_reference(graphs, sysu_root, tmp_path):
    doc = tmp_path / "deploy.md"
    doc.write_text("<!-- deploy-accuracy:begin -->\n<!-- deploy-accuracy:end -->\n")
    fp32, int8 = [str(graphs / f"{m}.onnx") for m in ("visible", "infrared")], [
        str(graphs / f"{m}_int8.onnx") for m in ("visible", "infrared")]  # fmt: skip
    rows = deploy_eval_tool.main(["--sysu", str(sysu_root), "--reference", *fp32, "--candidate", *fp32,
                                  "--candidate", *int8, "--runs", "onnxruntime:fp32", "openvino:bf16", "--trials",
                                  "3", "--write", str(doc)])  # fmt: skip
    reference, same, bf16, int8_ort, int8_bf16 = rows
    assert reference["d_rank1"] == 0 and 0 < reference["rank1"] <= 100
    assert same["cosine_min"] > 1 - 1e-5 and same["d_rank1"] == 0 and same["d_mAP"] == 0  # the same graphs
    assert bf16["ran"] == "bf16" and bf16["cosine_mean"] > 0.999  # 2^-8 relative rounding per tensor
    bound = min(expected_cosine(p) for p in int8)
    assert int8_ort["ran"] == "int8 + fp32" and int8_ort["cosine_mean"] >= bound - 0.005
    assert int8_bf16["ran"] == "int8 + bf16" and int8_bf16["cosine_mean"] >= bound - 0.005
    assert "| visible_int8.onnx + infrared_int8.onnx | openvino | int8 + bf16 |" in doc.read_text()


def test_deployment_mistakes_are_one_line(graphs, sysu_root, tmp_path, capsys):
    out = str(tmp_path / "m.onnx")
    assert run("export_onnx", ["--model", "toplight_mobilenetv3_small", "--int8", "--output", out, *SIZE]) == 2
    assert "--int8 and --calibrate DIR go together" in capsys.readouterr().err
    assert run("export_onnx", ["--model", "toplight_mobilenetv3_small", "--modality", "visible", "--int8",
                               "--calibrate", str(sysu_root / "cam3"), "--output", out, *SIZE]) == 2  # fmt: skip
    assert "none of its" in capsys.readouterr().err and "is visible" in capsys.readouterr().err + "is visible"
    with pytest.raises(SystemExit):
        deploy_eval_tool.main(["--sysu", str(sysu_root), "--reference", out, "--runs", "tensorrt:fp32"])
    three = [str(graphs / "visible.onnx")] * 3
    assert run("deploy_eval", ["--sysu", str(sysu_root), "--reference", *three]) == 2
    assert "expected one graph or two" in capsys.readouterr().err


def test_edge_benchmark_times_every_path_and_names_its_precision(tmp_path):
    doc = tmp_path / "bench.md"
    doc.write_text("<!-- edge:begin -->\n<!-- edge:end -->\n")
    result = benchmark_tool.main(["--edge", "--models", "toplight_mobilenetv3_small", "--batches", "1", "2",
                                  "--height", "64", "--width", "32", "--rounds", "2", "--seconds", "0", "--threads",
                                  "1", "--write", str(doc)])  # fmt: skip
    rows = {(r["path"], r["batch"]): r for r in result["rows"]}
    assert len(rows) == len(PATHS) * 2 and all(r["img_s"] > 0 and r["p95_ms"] >= r["median_ms"] > 0
                                               for r in rows.values())  # fmt: skip
    assert rows[("openvino bf16", 2)]["ran"] == "bf16" and rows[("onnxruntime int8", 2)]["ran"] == "int8 + fp32"
    peaks = result["peaks"]
    assert peaks["int8"] >= peaks["bf16"] >= peaks["fp32"] > 0
    share = rows[("openvino int8", 2)]
    assert share["share"] == pytest.approx(share["gflops"] / peaks["int8"])
    assert "| toplight_mobilenetv3_small | openvino int8 bf16 | int8 + bf16 |" in doc.read_text()

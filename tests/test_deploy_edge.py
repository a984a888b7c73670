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
from toplight_plugin.core.deploy.quantize import calibration_set, expected_cosine
from toplight_plugin.core.deploy.runtime import GraphSession, default_runtime

SIZE = ["data.height", "64", "data.width", "32"]


@pytest.fixture(scope="module")
def graphs(sysu_root, tmp_path_factory):
    """A visible and an infrared float32 graph of an untrained model and their INT8 forms calibrated on the synthetic
    images. Its BatchNorm variances are set to 0.3: re-estimated on images, a random network amplifies small input
    changes (it is chaotic; 8-bit rounding then leaves cosine 0.8), which a trained one does not, and at the initial
    1 its activations shrink block by block to 1e-10, far below the least range NNCF gives a quantiser (8e-5), so
    the INT8 graph's features are zero; at 0.3 the largest activation of each tensor lies between 7e-6 and 7."""
    folder = tmp_path_factory.mktemp("graphs")
    torch.manual_seed(0)  # a module fixture is made before the per-test seed: its weights must not hang on test order
    model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=3, height=64, width=32)
    for norm in model.modules():
        if isinstance(norm, torch.nn.modules.batchnorm._BatchNorm):
            norm.running_var.fill_(0.3)
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


def test_int8_ranges_hold_every_calibration_value(graphs, sysu_root):
    """Each per-tensor activation quantiser spans the min / max over all calibration images (NNCF's default, the mean
    of each image's extremes, clips the images with the largest activations), and the pooled vectors stay float."""
    import onnxruntime as ort

    quantised = onnx.load(str(graphs / "infrared_int8.onnx"))
    constants = {i.name: onnx.numpy_helper.to_array(i) for i in quantised.graph.initializer}
    quantisers = {n.input[0]: n for n in quantised.graph.node if n.op_type == "QuantizeLinear"
                  and constants[n.input[1]].size == 1}  # fmt: skip
    float32 = onnx.load(str(graphs / "infrared.onnx"))
    float32.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
                                for name in quantisers if name != "images")  # fmt: skip
    images, _ = calibration_set(sysu_root, 64, 32, "infrared", 48)
    session = ort.InferenceSession(float32.SerializeToString(), providers=["CPUExecutionProvider"])
    values = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": images}), strict=True))
    values["images"] = images
    assert len(quantisers) > 20
    for name, node in quantisers.items():
        scale, zero = float(constants[node.input[1]]), int(constants[node.input[2]])
        low, high = (-128, 127) if constants[node.input[2]].dtype == np.int8 else (0, 255)
        assert (low - zero - 1) * scale <= values[name].min() and values[name].max() <= (high - zero + 1) * scale, name
    float_ops = {n.name for n in quantised.graph.node if n.op_type in ("Gemm", "ReduceL2")}
    assert float_ops and not [n for n in quantised.graph.node if n.op_type == "DequantizeLinear"
                              and any(c.name in float_ops for c in quantised.graph.node if n.output[0] in c.input)]


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


def test_search_runs_int8_graphs_in_openvino_unless_told(graphs, sysu_root, tmp_path, capsys):
    """OpenVINO runs NNCF's INT8 file fastest (onnxruntime keeps most of its convolutions in float32 between the
    quantise / dequantise pairs), so ``--runtime auto`` picks it for INT8 files and onnxruntime for float ones."""
    assert default_runtime([graphs / "visible.onnx", graphs / "infrared.onnx"]) == "onnxruntime"
    assert default_runtime([graphs / "visible.onnx", graphs / "infrared_int8.onnx"]) == "openvino"
    queries = sorted((sysu_root / "cam3").rglob("*.jpg"))[:2]
    int8 = [str(graphs / "visible_int8.onnx"), str(graphs / "infrared_int8.onnx")]
    rankings = search_tool.main(["--gallery", str(sysu_root / "cam1"), "--query", *map(str, queries), "--onnx", *int8,
                                 "--batch-size", "64", "--top-k", "3", "--output", str(tmp_path)])  # fmt: skip
    assert [r.query for r in rankings] == queries and len(rankings[0].gallery) == 3
    assert (tmp_path / "results.png").is_file()
    assert "visible_int8.onnx: visible graph, int8 + fp32 on openvino" in capsys.readouterr().out


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


def _listed(root, modality: str, trial: int) -> tuple[list, np.ndarray]:
    """The test images of a RegDB list file and their labels, read straight from the file."""
    lines = [line.split() for line in (root / "idx" / f"test_{modality}_{trial}.txt").read_text().splitlines()]
    return [root / rel for rel, _ in lines], np.array([int(label) for _, label in lines])


def test_regdb_visible_to_infrared_through_exported_graphs(graphs, regdb_root, tmp_path):
    doc = tmp_path / "deploy.md"
    doc.write_text("<!-- deploy-accuracy:begin -->\nSYSU\n<!-- deploy-accuracy:end -->\n"
                   "<!-- deploy-accuracy-regdb:begin -->\n<!-- deploy-accuracy-regdb:end -->\n")  # fmt: skip
    fp32, int8 = [str(graphs / f"{m}.onnx") for m in ("visible", "infrared")], [
        str(graphs / f"{m}_int8.onnx") for m in ("visible", "infrared")]  # fmt: skip
    rows = deploy_eval_tool.main(["--regdb", str(regdb_root), "--regdb-trial", "2", "--reference", *fp32,
                                  "--candidate", *int8, "--write", str(doc)])  # fmt: skip
    # the protocol by hand: trial 2's visible test images query its thermal ones, the whole list is the gallery
    (q_paths, q_pids), (g_paths, g_pids) = _listed(regdb_root, "visible", 2), _listed(regdb_root, "thermal", 2)
    query = GraphSession(graphs / "visible.onnx").run(load_batch(q_paths, 64, 32), np.zeros(len(q_paths), np.int64))
    gallery = GraphSession(graphs / "infrared.onnx").run(load_batch(g_paths, 64, 32), np.ones(len(g_paths), np.int64))
    order = np.argsort(-(query @ gallery.T), axis=1, kind="stable")
    hits = g_pids[order] == q_pids[:, None]
    precision = np.cumsum(hits, axis=1) / np.arange(1, len(g_pids) + 1)
    m_ap = 100 * np.mean((precision * hits).sum(axis=1) / hits.sum(axis=1))
    reference, quantised = rows
    assert reference["rank1"] == pytest.approx(100 * hits[:, 0].mean()) and reference["mAP"] == pytest.approx(m_ap)
    assert quantised["ran"] == "int8 + fp32" and quantised["d_mAP"] == pytest.approx(quantised["mAP"] - m_ap)
    assert 0 < quantised["cosine_min"] <= quantised["cosine_mean"] < 1  # calibrated on SYSU-MM01's images, not these
    text = doc.read_text()
    assert "RegDB visible to infrared, trial 2 (12 visible queries, 12 thermal gallery images)" in text
    assert "| visible_int8.onnx + infrared_int8.onnx | onnxruntime | int8 + fp32 |" in text and "SYSU\n" in text


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
    fp32 = [str(graphs / "visible.onnx"), str(graphs / "infrared.onnx")]
    for test_set, said in ((["--sysu", str(sysu_root), "--regdb", str(sysu_root)], "exactly one test set"),
                           ([], "exactly one test set"),
                           (["--regdb", str(sysu_root), "--trials", "3"], "--trials is SYSU-MM01's gallery trials"),
                           (["--sysu", str(sysu_root), "--regdb-trial", "2"], "--regdb-trial is RegDB's split")):
        assert run("deploy_eval", [*test_set, "--reference", *fp32]) == 2
        err = capsys.readouterr().err
        assert said in err and err.count("\n") == 1 and "error: " in err


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

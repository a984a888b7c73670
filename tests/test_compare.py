"""The comparison tool: published figures by config, the table, the picture, and runs given as results, checkpoints
or configs alone."""

import json

import pytest
import torch
from PIL import Image
from test_engine import ROOT

import toplight_plugin
from toplight_plugin.cli import compare as compare_tool
from toplight_plugin.cli.console import run as run_tool
from toplight_plugin.core.analysis.compare import Run, to_markdown
from toplight_plugin.core.analysis.flops import inference_mparams
from toplight_plugin.core.analysis.paper_figures import PAPER, paper_mflops, paper_row


def test_every_published_row_has_its_configs_and_model():
    for key, row in PAPER.items():
        assert all((ROOT / f"configs/{d}/{key}.yaml").is_file() for d in ("sysu", "regdb")), key
        assert row.model in toplight_plugin.MODELS
    assert paper_row("configs/sysu/mbv3s_top_fdr.yaml").sysumm01 == (54.75, 50.26)
    assert paper_row("somewhere/my_own.yaml") is None
    assert paper_mflops()["toplight_mobilenetv3_large"] == (250, 362)


def test_inference_parameters_leave_out_the_training_only_branches():
    model = toplight_plugin.build("ddag_resnet50", num_classes=7)
    graph = sum(p.numel() for p in model.head.graph.parameters())
    classifier = model.head.classifier.weight.numel()
    total = sum(p.numel() for p in model.parameters())
    assert inference_mparams(model) == pytest.approx((total - graph - classifier) / 1e6)


def test_rank1_is_the_protocol_the_paper_reports():
    results = {"regdb_i2v": {"rank1": 10.0, "mAP": 9.0}, "regdb_v2i": {"rank1": 20.0, "mAP": 18.0, "mINP": 5.0}}
    run = Run("regdb/x", "m", "regdb", 100.0, 1.0, PAPER["mbv3s_baseline"], results)
    assert run.rank1() == 20.0 and run.paper_figures() == (62.77, 58.31)
    table = to_markdown([run, Run("sysu/y", "m", "sysumm01", 5.0, 2.0)], ["eager@32"])
    lines = table.splitlines()
    assert lines[0].startswith("| run | model | regdb_i2v r=1 / mAP / mINP | regdb_v2i r=1 / mAP / mINP | paper")
    assert "| 10.00 / 9.00 / – | 20.00 / 18.00 / 5.00 | 62.77 / 58.31 | 100.0 (104) | 1.00 | – |" in lines[2]
    assert lines[3] == "| sysu/y | m | – | – | – | 5.0 (–) | 2.00 | – |"


def test_compare_results_checkpoints_and_configs_alone(sysu_root, tmp_path, capsys):
    results = {"sysu_all": {"rank1": 61.0, "mAP": 58.5, "mINP": 40.0}, "sysu_indoor": {"rank1": 70.0, "mAP": 72.0}}
    (tmp_path / "results.json").write_text(json.dumps(results))
    config = tmp_path / "cfg" / "mbv3s_baseline.yaml"  # a config of the mbv3s_baseline row, on the test data
    config.parent.mkdir()
    config.write_text(
        "model:\n  name: toplight_mobilenetv3_small_nofdr\ndata:\n"
        f"  root: {sysu_root.parent}\n  sources: ['sysumm01']\n  targets: ['sysumm01']\n  height: 64\n  width: 32\n"
        "  workers: 0\ntoplight:\n  trials: 2\n"
    )
    model = toplight_plugin.build("toplight_mobilenetv3_small_nofdr", num_classes=10, height=64, width=32)
    torch.save({"state_dict": model.state_dict()}, tmp_path / "weights.pth")
    out = tmp_path / "cmp"
    runs = compare_tool.main([
        f"{config}={tmp_path / 'results.json'}", f"{config}={tmp_path / 'weights.pth'}",
        str(ROOT / "configs/sysu/ddag_resnet50.yaml"), "--output", str(out), "--batch", "2", "--rounds", "1",
        "--seconds", "0.01",
    ])  # fmt: skip
    assert [r.label for r in runs] == ["cfg/mbv3s_baseline", "cfg/mbv3s_baseline #2", "sysu/ddag_resnet50"]
    assert runs[0].results == results and runs[0].rank1() == 61.0
    assert set(runs[1].results) == {"sysu_all", "sysu_indoor"}  # tested here with the config's protocol
    assert runs[2].results is None and runs[2].paper.label == "DDAG" and runs[2].mflops > 5000
    for r in runs:
        assert set(r.speed) == {"eager@2", "onnxruntime@2"} and all(v > 0 for v in r.speed.values())
    table = (out / "comparison.md").read_text()
    assert "| cfg/mbv3s_baseline | toplight_mobilenetv3_small_nofdr | 61.00 / 58.50 / 40.00 |" in table
    assert "| 40.92 / 42.51 |" in table and "| 54.75 / 53.02 |" in table and "(>3,562)" in table
    assert json.loads((out / "comparison.json").read_text())[2]["paper"]["regdb"] == [69.34, 63.46]
    assert Image.open(out / "comparison.png").size[0] > 0
    assert "picture:" in capsys.readouterr().out


def test_compare_refuses_a_file_that_is_not_a_result(tmp_path, capsys):
    (tmp_path / "r.json").write_text('{"rank1": 3}')
    config = ROOT / "configs/sysu/mbv3s_baseline.yaml"
    assert run_tool("compare", [f"{config}={tmp_path / 'r.json'}", "--no-speed"]) == 2
    assert "r.json: expected a results.json of toplight-test" in capsys.readouterr().err
    assert run_tool("compare", [f"{config}={tmp_path / 'missing.json'}", "--no-speed"]) == 2
    assert "missing.json: no such file" in capsys.readouterr().err

"""The FLOPs counter and table, the docs section writer, and the demo (train + test on synthetic data)."""

import pytest

import toplight_plugin
from toplight_plugin.cli import demo
from toplight_plugin.core.analysis.docs import replace_section
from toplight_plugin.core.analysis.flops import count_mflops, to_markdown


def test_fdr_cost_is_the_transposed_convolutions_plus_the_attention_mlp():
    """Documented costs (docs/models.md), multiply-adds at MobileNetV3-S's 24 x 36 x 18 Block4 map. Spatial reading:
    C^2 (H + W) for the two profile rebuilds, 2 C (H + W) for their BatchNorms (fvcore counts 2 per element), and
    W1 (2C -> C/4), W2 (C/4 -> C) at each of the H W positions. Literal reading: C^2 * 2HW for the two dense
    transposed convolutions, W1 and W2 once."""
    plain = count_mflops(toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, fdr=None))
    c, h, w = 24, 36, 18
    spatial = c * c * (h + w) + 2 * c * (h + w) + (2 * c * (c // 4) + (c // 4) * c) * h * w
    literal = c * c * 2 * h * w + 2 * c * (c // 4) + (c // 4) * c
    for reading, expected in (("spatial", spatial), ("literal", literal)):
        model = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, fdr_reading=reading)
        assert (count_mflops(model) - plain) * 1e6 == pytest.approx(expected, rel=1e-6)


def test_markdown_table_and_section_replacement(tmp_path):
    row = dict(model="m", mparams=1.0, mflops_plain=10.0, fdr_mflops_spatial=0.3, fdr_mparams_spatial=0.01,
               fdr_mflops_literal=0.7, fdr_mparams_literal=0.08, paper_plain=11, paper_top_fdr=20)  # fmt: skip
    table = to_markdown([row])
    assert "| m | 1.0 | 10.0 | 0.3 / 0.01 | 0.7 / 0.08 | 11 | 20 | +9 |" in table
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- flops:begin -->\nold\n<!-- flops:end -->\noutro\n")
    replace_section(doc, "flops", table)
    text = doc.read_text()
    assert "old" not in text and table.strip() in text and text.startswith("intro") and text.endswith("outro\n")
    with pytest.raises(ValueError, match="no section markers <!-- other:begin -->"):
        replace_section(doc, "other", table)


def test_demo_trains_and_tests_on_synthetic_data(tmp_path, capsys):
    args = ["--data", str(tmp_path / "data"), "--output", str(tmp_path / "out"), "--ids", "8", "2", "4",
            "--pretrain-epochs", "1", "--picture", str(tmp_path / "search.png")]  # fmt: skip
    rows = demo.main([*args, "train.max_epoch", "1", "data.workers", "0", "data.height", "64", "data.width", "32"])
    assert list(rows)[:3] == list(demo.MATCHER_ROWS.values()) and len(rows) == 4
    assert all(set(results) == {"sysu_all", "sysu_indoor"} for results in rows.values())
    assert len(rows["chance (random features)"]["sysu_all"]["trials"]) == 10
    assert (tmp_path / "data" / "SYSU-MM01" / "exp" / "test_id.txt").is_file()
    assert (tmp_path / "out" / "last.pth").is_file() and (tmp_path / "out" / "results.json").is_file()
    assert (tmp_path / "out" / "pretrain" / "soup.pth").is_file() and (tmp_path / "search.png").is_file()
    out = capsys.readouterr().out
    assert "| grayscale pixel matcher |" in out and "epoch 1/1  loss " in out

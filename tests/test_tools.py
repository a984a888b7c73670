"""The FLOPs counter and table, the docs section writer, and the demo's feature extraction."""

import pytest

import toplight_plugin
from toplight_plugin.cli.demo import extract_all
from toplight_plugin.core.docs import replace_section
from toplight_plugin.core.flops import count_mflops, to_markdown
from toplight_plugin.core.synthetic import make_sysu


def test_fdr_cost_is_the_transposed_convolutions_plus_the_attention_mlp():
    """Documented cost: C^2 * 2HW multiply-adds for the two dense transposed convolutions (+ W1, W2)."""
    plain = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1, fdr=None)
    full = toplight_plugin.build("toplight_mobilenetv3_small", num_classes=1)
    c, h, w = 24, 36, 18  # Block4 of MobileNetV3-S at 288x144
    expected = c * c * 2 * h * w + 2 * c * (c // 4) + (c // 4) * c
    assert (count_mflops(full) - count_mflops(plain)) * 1e6 == pytest.approx(expected, rel=1e-6)


def test_markdown_table_and_section_replacement(tmp_path):
    row = dict(
        model="m", mparams=1.0, fdr_mparams=0.1, mflops_plain=10.0, mflops=12.0, paper_plain=11, paper_top_fdr=20
    )
    table = to_markdown([dict(row, ratio=0.6)])
    assert "| m | 1.0 | 0.1 | 10.0 | 12.0 | 11 | 20 | 0.6 |" in table
    doc = tmp_path / "doc.md"
    doc.write_text("intro\n<!-- flops:begin -->\nold\n<!-- flops:end -->\noutro\n")
    replace_section(doc, "flops", table)
    text = doc.read_text()
    assert "old" not in text and table.strip() in text and text.startswith("intro") and text.endswith("outro\n")
    with pytest.raises(ValueError, match="no section markers <!-- other:begin -->"):
        replace_section(doc, "other", table)


def test_demo_extracts_cross_modality_features(tmp_path):
    root = make_sysu(tmp_path, num_ids=6, splits=(2, 1, 3), images_per_cam=1, size=(64, 32))
    rows = extract_all(root, names=["toplight_mobilenetv3_small", "lightcnn29_toplight"])
    assert [r["model"] for r in rows] == ["toplight_mobilenetv3_small", "lightcnn29_toplight"]
    assert [r["feature"] for r in rows] == [1024, 256]
    assert all(0 <= r["rank1"] <= 100 and r["chance"] == pytest.approx(100 / 3, abs=0.1) for r in rows)

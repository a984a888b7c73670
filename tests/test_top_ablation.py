"""The synthetic TOP ablation end to end at toy size: every arm's stages, the JSON, the picture, the cache; and the
corpus it pretrains on (distinct people, disjoint from the VI set, colours typical per class or drawn per image)."""

import json

import numpy as np
import pytest
import yaml
from PIL import Image

from toplight_plugin.cli.ablation_report import ARMS
from toplight_plugin.cli.console import run
from toplight_plugin.cli.top_ablation import main, picture_name
from toplight_plugin.core.data.synthetic_corpus import _combinations, make_corpus, split_people, subset

TOY = ["--seeds", "1", "--colours", "typical", "--vi-ids", "10", "--test-ids", "6", "--corpus-classes", "8",
       "--corpus-images", "8", "--mini-images", "4", "--sp-epochs", "1", "--top-epochs", "1", "--vi-epochs", "2",
       "--short-epochs", "1", "--size", "64", "32", "--workers", "0"]  # fmt: skip


def test_people_are_distinct_and_the_vi_set_and_corpus_disjoint():
    assert len(set(_combinations())) == len(_combinations()) == 2112
    vi, corpus = split_people(4, 160, 300)

    def key(p):
        return round(p.width, 1), p.head > 0.09, p.torso > 0.32, p.pattern, p.cycles, p.shorts, p.legs_striped, \
            p.cap, p.bag  # fmt: skip

    keys = [key(p) for p in vi + corpus]
    assert len(vi) == 160 and len(corpus) == 300 and len(set(keys)) == 460


def _class_colour_spread(root, classes):
    """Mean over classes of the spread (std over a class's images) of the torso's mean colour."""
    spreads = []
    for c in range(classes):
        images = [np.asarray(Image.open(p), dtype=float) for p in sorted((root / f"class_{c:04d}").glob("*.jpg"))]
        spreads.append(np.std([image[50:70, 28:36].mean(axis=(0, 1)) for image in images], axis=0).mean())
    return float(np.mean(spreads))


def test_typical_colours_stay_with_their_class_and_random_ones_do_not(tmp_path):
    people = split_people(0, 6)[0]
    typical = make_corpus(tmp_path / "typical", people, 8, (128, 64), seed=3, colours="typical")
    random = make_corpus(tmp_path / "random", people, 8, (128, 64), seed=3, colours="random")
    assert _class_colour_spread(typical, 6) * 2 < _class_colour_spread(random, 6)
    mini = subset(typical, tmp_path / "mini", 3)
    assert sorted(p.name for p in (mini / "class_0005").iterdir()) == ["000.jpg", "001.jpg", "002.jpg"]


def test_the_ablation_runs_every_arm_and_reuses_its_stages(tmp_path, capsys):
    results = main([*TOY, "--work", str(tmp_path / "work")])["typical"]
    written = json.loads((tmp_path / "work" / "top_ablation.json").read_text())
    assert written == results and set(written) == set(ARMS)
    metrics = {"all_rank1", "all_mAP", "indoor_rank1", "indoor_mAP"}
    for arm in ARMS:
        figures = written[arm]["1"]
        stages = ("", "short_") if arm == "E_scratch" else ("", "short_", "zero_shot_")  # random weights: no zero-shot
        assert set(figures) == {stage + metric for stage in stages for metric in metrics}
        assert all(0 <= v <= 100 for v in figures.values())
    seed = tmp_path / "work" / "seed1"
    assert (seed / "typical" / "sp" / "sp.pth").is_file()
    assert {p.parent.name for p in (seed / "E_scratch").glob("*/figures.json")} == {"vi", "vi-1"}
    assert {p.parent.name for p in (seed / "typical" / "A_sp").glob("*/figures.json")} == {"vi", "vi-1", "zero-shot"}
    epochs = {p.parent.name: len(list(p.parent.glob("epoch-*.pth"))) for p in seed.rglob("figures.json")}
    assert (epochs["vi"], epochs["vi-1"], epochs["zero-shot"]) == (2, 1, 0)  # the two budgets, and no training
    for arm in ("C_sp_generic", "D_sp_idc", "B_sp_top"):
        assert (seed / "typical" / arm / "top" / "soup.pth").is_file()
    with Image.open(tmp_path / "work" / "top_ablation.png") as picture:
        assert picture.format == "PNG"
    capsys.readouterr()
    stamps = {p: p.stat().st_mtime_ns for p in seed.rglob("*.pth")}
    assert main([*TOY, "--work", str(tmp_path / "work")])["typical"] == results  # every stage from its cache
    assert {p: p.stat().st_mtime_ns for p in seed.rglob("*.pth")} == stamps
    out = capsys.readouterr().out
    for stage in ("", "short_", "zero_shot_"):
        assert f"B_sp_top - A_sp ({stage}all_rank1): mean" in out
    longer = [*TOY, "--work", str(tmp_path / "work"), "--top-epochs", "2"]
    with pytest.raises(ValueError, match=r"B_sp_top/top/config.yaml: train.max_epoch is 1, this run asks for 2;"):
        main(longer)  # a cached stage never stands in for one run with other options
    capsys.readouterr()
    assert run("top_ablation", longer) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "train.max_epoch is 1, this run asks for 2; delete the stage folder" in err, err
    variant = main([*TOY, "--work", str(tmp_path / "work"), "--variant", "ramp", "top.grl_schedule", "ganin"])
    assert variant["typical"] == {**results, "B+ramp": variant["typical"]["B+ramp"]}  # the other arms from the cache
    assert (tmp_path / "work" / "top_ablation_ramp.json").is_file() and (tmp_path / "work" / "top_ablation.json")
    ramp = yaml.safe_load((seed / "typical" / "B+ramp" / "top" / "config.yaml").read_text())
    assert ramp["top"]["grl_schedule"] == "ganin" and ramp["top"]["fake_domain"] is True


def test_arms_runs_only_the_named_top_arms(tmp_path):
    results = main([*TOY, "--work", str(tmp_path), "--arms", "C_sp_generic"])["typical"]
    assert list(results) == ["E_scratch", "A_sp", "C_sp_generic"]
    assert {p.parent.name for p in (tmp_path / "seed1" / "typical").glob("*/top")} == {"C_sp_generic"}


def test_a_variant_names_itself_then_takes_key_value_pairs(tmp_path, capsys):
    for variant in (["ganin", "top.grl_schedule"], ["top.grl_schedule", "ganin", "x"]):
        with pytest.raises(SystemExit):
            main([*TOY, "--work", str(tmp_path), "--variant", *variant])
        assert "expected a name, then KEY VALUE pairs" in capsys.readouterr().err


def test_a_run_on_one_corpus_names_its_picture_as_its_json():
    assert picture_name(["typical", "random"], "") == "top_ablation.png"
    assert picture_name(["typical"], "_long") == "top_ablation_long.png"
    assert picture_name(["random"], "_long") == "top_ablation_general_long.png"  # the colour one's stays

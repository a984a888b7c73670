"""Training learns: a short run of the from-scratch recipe on a small synthetic set ends far above chance, where
chance is measured through the same protocol code (random features)."""

from pathlib import Path

from toplight_plugin.cli import train as train_tool
from toplight_plugin.cli.demo import RECIPE, matcher_results
from toplight_plugin.core.data.synthetic import make_sysu
from toplight_plugin.core.training.config import load_config

ROOT = Path(__file__).resolve().parents[1]


def test_a_short_run_ends_far_above_chance(tmp_path):
    make_sysu(tmp_path / "SYSU-MM01", num_ids=160, splits=(130, 10, 20), images_per_cam=4, size=(128, 64), seed=0)
    options = ["data.root", str(tmp_path), "data.save_dir", str(tmp_path / "run"), "data.workers", "0",
               "train.max_epoch", "6", "train.stepsize", "[5]", "toplight.warmup_epochs", "1",
               "test.eval_freq", "-1", "toplight.sysu_mode", "['all']"]  # fmt: skip
    engine = train_tool.main(["--config-file", str(ROOT / RECIPE), *options])
    chance = matcher_results(load_config(ROOT / RECIPE, options))["chance (random features)"]["sysu_all"]
    learned = engine.last_results["sysu_all"]
    assert learned["rank1"] >= 3 * chance["rank1"], (learned["rank1"], chance["rank1"])
    assert learned["mAP"] >= 2 * chance["mAP"], (learned["mAP"], chance["mAP"])

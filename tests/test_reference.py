"""The reference learner: a stock torchreid model, torchreid's own triplet engine, the published protocol."""

from pathlib import Path

import pytest

from toplight_plugin.cli import reference
from toplight_plugin.hosts.torchreid import compat

ROOT = Path(__file__).resolve().parents[1]


def test_one_epoch_of_osnet_with_the_published_protocol(sysu_root, tmp_path):
    engine = reference.main([
        "--config-file", str(ROOT / "configs/synthetic/osnet_reference.yaml"), "data.root", str(sysu_root.parent),
        "data.save_dir", str(tmp_path), "data.height", "64", "data.width", "32", "data.workers", "0",
        "train.batch_size", "16", "sampler.num_instances", "2", "train.max_epoch", "1", "toplight.trials", "2",
    ])  # fmt: skip
    assert isinstance(engine, compat.torchreid().engine.ImageTripletEngine)
    assert set(engine.last_results) == {"sysu_all", "sysu_indoor"}
    assert len(engine.last_results["sysu_all"]["trials"]) == 2 and (tmp_path / "results.json").is_file()


def test_only_torchreid_models():
    with pytest.raises(ValueError, match="not one of torchreid's own models"):
        reference.main(["model.name", "no_such_net"])

"""One command trains and tests each RegDB trial and reports each with the mean ± std, in both directions."""

import json

import numpy as np
import pytest

from toplight_plugin.cli import splits as splits_tool


def test_each_split_is_trained_tested_and_summarised(regdb_root, tmp_path):
    opts = [
        "--config-file", "regdb/mbv3s_baseline", "--splits", "0,3", "model.pretrained", "False",
        "data.root", str(regdb_root.parent), "data.height", "64", "data.width", "32", "data.workers", "0",
        "data.save_dir", str(tmp_path), "train.batch_size", "8", "sampler.num_instances", "2",
        "train.max_epoch", "1", "test.eval_freq", "-1", "toplight.warmup_epochs", "0",
    ]  # fmt: skip
    per_split = splits_tool.main(opts)
    assert sorted(per_split) == [0, 3]
    for k in (0, 3):
        assert (tmp_path / f"split-{k}" / "last.pth").is_file()
        (log,) = (tmp_path / f"split-{k}").glob("test.log-*")
        assert "Rank-1  : " in log.read_text()  # what torchreid's parse_test_res.py reads, one folder per split
    table = (tmp_path / "splits.md").read_text()
    for protocol in ("regdb_v2i", "regdb_i2v"):
        rank1 = [per_split[k][protocol]["rank1"] for k in (0, 3)]
        mean_row = next(line for line in table.split(protocol, 1)[1].splitlines() if line.startswith("| mean"))
        assert mean_row.split("|")[2].strip() == f"{np.mean(rank1):.2f} ± {np.std(rank1):.2f}"
    assert json.loads((tmp_path / "splits.json").read_text())["3"] == per_split[3]
    again = splits_tool.main([*opts[:4], "--test-only", *opts[4:]])
    assert again == per_split  # testing the kept checkpoints gives the same numbers


def test_test_only_without_checkpoints_says_what_is_missing(regdb_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="split 0: no checkpoint in"):
        splits_tool.main(["--config-file", "regdb/mbv3s_baseline", "--splits", "0", "--test-only",
                          "data.root", str(regdb_root.parent), "data.save_dir", str(tmp_path)])  # fmt: skip

"""Two CPU processes (gloo) under torchrun: DDP training, sharded evaluation gathered on rank 0."""

import json
import os
import subprocess
import sys

import pytest
import torch
from test_engine import tiny


def test_two_process_gloo_run_matches_single_process_evaluation(sysu_root, tmp_path):
    save = tmp_path / "ddp"
    args = tiny(sysu_root.parent, save, "train.max_epoch", "1", "toplight.trials", "2", "test.batch_size", "8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "toplight_plugin.cli.train", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("=> Final test") == 1  # only rank 0 speaks
    state = torch.load(save / "last.pth", weights_only=True)
    assert state["epoch"] == 1 and not any(k.startswith("module.") for k in state["state_dict"])
    gathered = json.loads((save / "results.json").read_text())
    # The same checkpoint evaluated by one process with the same thread count: features are bitwise the same.
    single_dir = tmp_path / "single"
    command = [sys.executable, "-m", "toplight_plugin.cli.test", "--weights", str(save / "last.pth"), *args,
               "data.save_dir", str(single_dir)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    single = json.loads((single_dir / "results.json").read_text())
    assert gathered.keys() == single.keys()
    for protocol, summary in single.items():
        for key in ("rank1", "rank10", "mAP", "mINP"):
            assert gathered[protocol][key] == pytest.approx(summary[key], abs=1e-6)


def test_two_process_gloo_pretraining_writes_one_soup(tmp_path):
    from toplight_plugin.core.synthetic import make_imagefolder

    root = make_imagefolder(tmp_path / "if", num_classes=4, images_per_class=8, size=(64, 64))
    save = tmp_path / "pre"
    args = ["model.name", "toplight_mobilenetv3_small", "model.pretrained", "False", "data.root", str(root),
            "data.height", "64", "data.width", "64", "data.workers", "0", "train.batch_size", "4",
            "train.max_epoch", "1", "data.save_dir", str(save)]  # fmt: skip
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "toplight_plugin.cli.pretrain_top", *args]  # fmt: skip
    done = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True, text=True,
                          timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("soup written") == 1
    state = torch.load(save / "soup.pth", weights_only=True)["state_dict"]
    assert not any(k.startswith(("module.", "backbone.pre.1.")) for k in state)
    assert len(list(save.glob("events.out.tfevents*"))) == 1

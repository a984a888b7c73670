"""A run killed with SIGKILL mid-epoch and resumed ends with exactly the weights of an uninterrupted run."""

import os
import signal
import subprocess
import sys
import time

import torch
from test_engine import tiny


def _train(args, **popen):
    command = [sys.executable, "-m", "toplight_plugin.cli.train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, **popen)


def test_sigkill_mid_epoch_then_resume_is_exact(sysu_root, tmp_path):
    root = sysu_root.parent
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    run = _train(tiny(root, whole, "train.max_epoch", "2", "toplight.trials", "1"))
    interrupted = _train(tiny(root, killed, "train.max_epoch", "2", "toplight.trials", "1"))
    deadline = time.monotonic() + 300
    while not (killed / "last.pth").exists():  # epoch 1 is complete once last.pth exists (atomic rename)
        assert interrupted.poll() is None and time.monotonic() < deadline, interrupted.stderr.read()
        time.sleep(0.005)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    assert not (killed / "epoch-2.pth").exists()  # it died inside epoch 2
    assert torch.load(killed / "last.pth", weights_only=True)["epoch"] == 1  # what --resume starts from

    resumed = _train(["--resume", *tiny(root, killed, "train.max_epoch", "2", "toplight.trials", "1")])
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    assert run.wait(timeout=300) == 0, run.stderr.read()
    a = torch.load(whole / "last.pth", weights_only=True)
    b = torch.load(killed / "last.pth", weights_only=True)
    assert a["epoch"] == b["epoch"] == 2
    assert a["state_dict"].keys() == b["state_dict"].keys()
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key

"""Two CPU processes (gloo): DDP training and pretraining under torchrun, sharded evaluation gathered on rank 0, and
the collectives that keep the processes in step (a NaN in one, the epoch means)."""

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
    from toplight_plugin.core.data.synthetic import make_imagefolder

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


def _collectives(rank: int, world: int, store: str, out: str) -> None:
    """One process of the collectives test: rank 1's loss is NaN; each rank had its own batches."""
    import torch.distributed as dist

    from toplight_plugin.core.training import distributed

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        finite = distributed.all_finite(torch.tensor(float("nan") if rank == 1 else 0.5))
        sums, count = distributed.sum_over_ranks({"loss": 1.0 + rank, "acc": 10.0 * rank}, 2 + rank)
        with open(f"{out}.{rank}", "w") as file:
            json.dump({"finite": finite, "sums": sums, "count": count}, file)
    finally:
        dist.destroy_process_group()


def test_a_nan_in_one_process_stops_every_process_and_epoch_means_cover_all_of_them(tmp_path):
    """Otherwise the rank with the NaN raises and the others wait for its gradients for ever, and the epoch line,
    TensorBoard and DDAG's w_G read rank 0's share of the epoch only."""
    torch.multiprocessing.spawn(_collectives, args=(2, str(tmp_path / "store"), str(tmp_path / "out")), nprocs=2)
    for rank in (0, 1):
        seen = json.loads((tmp_path / f"out.{rank}").read_text())
        assert seen == {"finite": False, "sums": {"acc": 10.0, "loss": 3.0}, "count": 5}


def test_a_finite_loss_stops_when_another_process_diverged(tmp_path):
    from toplight_plugin.core.training.checkpoint import stop_if_diverged

    with pytest.raises(FloatingPointError, match="a non-finite loss in another process at epoch 2, batch 7"):
        stop_if_diverged(torch.tensor(0.5), "training", 2, 7, tmp_path, "advice", finite=False)
    stop_if_diverged(torch.tensor(0.5), "training", 2, 7, tmp_path, "advice", finite=True)
    with pytest.raises(FloatingPointError, match="loss nan"):
        stop_if_diverged(torch.tensor(float("nan")), "training", 2, 7, tmp_path, "advice")

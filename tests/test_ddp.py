"""Two CPU processes (gloo): DDP training and pretraining under torchrun, sharded evaluation gathered on rank 0, and
the collectives that keep the processes in step (a NaN in one, the epoch means)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from test_engine import tiny


def test_two_process_gloo_run_matches_single_process_evaluation(sysu_root, tmp_path):
    save = tmp_path / "ddp"
    args = tiny(sysu_root.parent, save, "train.max_epoch", "1", "toplight.trials", "2", "test.batch_size", "8")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
               "-m", "toplight_plugin.cli.train", *args]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("=> Final test") == 1  # only rank 0 speaks
    state = torch.load(save / "last.pth", weights_only=True)
    assert state["epoch"] == 1 and not any(k.startswith("module.") for k in state["state_dict"])
    gathered = json.loads((save / "results.json").read_text())
    # The same checkpoint evaluated by one process with the same thread count: features are bitwise the same.
    single_dir = tmp_path / "single"
    command = [sys.executable, "-m", "toplight_plugin.cli.test", "--weights", str(save / "last.pth"), *args,
               "data.save_dir", str(single_dir)]  # fmt: skip
    done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600)
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


class AugmentedImage(torch.utils.data.Dataset):
    """The same picture augmented at every index, so that only the random stream differs between draws."""

    def __init__(self):
        from toplight_plugin.core.data.transforms import ModalityAugment

        self.augment = ModalityAugment.preset("paper", 64, 32)
        self.image = np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8)

    def __len__(self):
        return 8

    def __getitem__(self, index):
        return self.augment(self.image, index % 2)


def _process(rank: int, world: int, store: str, out: str) -> None:
    """One of two processes: rank 1's loss is NaN; each rank had its own batches; epoch 3's augmentations in the
    main process and in a loader worker, drawn twice (the second time as a resumed run would, with new pipelines);
    the batches a sharded loader gives this process; what rank 0 alone reads."""
    import torch.distributed as dist

    from toplight_plugin.core.training import distributed
    from toplight_plugin.core.training.seeding import start_epoch

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=world)
    try:
        finite = distributed.finite_flag(torch.tensor(float("nan") if rank == 1 else 0.5)).tolist() == [1.0]
        sums, count = distributed.sum_over_ranks({"loss": 1.0 + rank, "acc": 10.0 * rank}, 2 + rank)
        draws = []
        for _ in range(2):
            dataset = AugmentedImage()
            start_epoch(seed=1, epoch=3)
            worker = torch.utils.data.DataLoader(dataset, batch_size=8, num_workers=1)
            draws.append([torch.stack([dataset[i] for i in range(len(dataset))]).tolist(), next(iter(worker)).tolist()])
        sequential = torch.utils.data.DataLoader(torch.arange(10), batch_size=2)
        shard = [batch.tolist() for batch in distributed.shard_loader(sequential)]
        gathered = distributed.gather_batches([(i * world + rank, batch) for i, batch in enumerate(shard)])
        main = distributed.from_main(lambda: f"rank {distributed.rank()}")
        with open(f"{out}.{rank}", "w") as file:
            json.dump({"finite": finite, "sums": sums, "count": count, "draws": draws, "shard": shard,
                       "gathered": gathered, "main": main}, file)  # fmt: skip
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def two_processes(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    torch.multiprocessing.spawn(_process, args=(2, str(folder / "store"), str(folder / "out")), nprocs=2)
    return [json.loads((folder / f"out.{rank}").read_text()) for rank in (0, 1)]


def test_a_nan_in_one_process_stops_every_process_and_epoch_means_cover_all_of_them(two_processes):
    """Otherwise the rank with the NaN raises and the others wait for its gradients for ever, and the epoch line,
    TensorBoard and DDAG's w_G read rank 0's share of the epoch only."""
    for seen in two_processes:
        assert {key: seen[key] for key in ("finite", "sums", "count")} == {
            "finite": False, "sums": {"acc": 10.0, "loss": 3.0}, "count": 5}  # fmt: skip


def test_each_process_augments_its_own_way_and_replays_it_on_resume(two_processes):
    """Rank in every seed: the j-th image of each process gets its own flip, crop and erasing, in the main process
    and in loader workers; seeding the same epoch again (a resume) replays it exactly. Evaluation decodes each batch
    in one process only; rank 0's reading is every process's."""
    first, second = two_processes
    for seen in two_processes:
        assert seen["draws"][0] == seen["draws"][1]
    for where in (0, 1):  # main process, loader worker
        assert first["draws"][0][where] != second["draws"][0][where]
    assert first["shard"] == [[0, 1], [4, 5], [8, 9]] and second["shard"] == [[2, 3], [6, 7]]
    assert first["gathered"] == second["gathered"] == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]]
    assert first["main"] == second["main"] == "rank 0"


def test_a_finite_loss_stops_when_another_process_diverged(tmp_path):
    from toplight_plugin.core.training.checkpoint import stop_if_diverged

    with pytest.raises(FloatingPointError, match="a non-finite loss in another process at epoch 2, batch 7"):
        stop_if_diverged(torch.tensor(0.5), "training", 2, 7, tmp_path, "advice", finite=False)
    stop_if_diverged(torch.tensor(0.5), "training", 2, 7, tmp_path, "advice", finite=True)
    with pytest.raises(FloatingPointError, match="loss nan"):
        stop_if_diverged(torch.tensor(float("nan")), "training", 2, 7, tmp_path, "advice")

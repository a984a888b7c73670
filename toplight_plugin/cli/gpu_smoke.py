"""GPU smoke check, prepared on CPU and run when a GPU is at hand (docs/training.md, "On GPUs"):

    python tools/gpu_smoke.py [--steps 30] [--output gpu_smoke.json]

1. Training steps of the VI engine on a synthetic SYSU-MM01 tree at 288 x 144, batch 72, for each precision
   (off, bf16 where supported, fp16): images/s and the device synchronisations per step counted by CUDA's sync
   debug mode (the design says one: the step's losses, accuracy and finite flag); ``--compile`` adds a row with
   ``toplight.compile True``.
2. DDP over NCCL: ``torchrun`` with one process per GPU for one epoch of the same tree (skipped with one GPU).
3. Loader throughput: toplight-bench-loader with 1, 2, 4 and 8 workers.
Every figure goes to ``--output`` as JSON and is printed as Markdown rows for docs/benchmarks.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch

from toplight_plugin.cli import bench_loader
from toplight_plugin.core.data.synthetic import make_sysu
from toplight_plugin.core.models.configured import build_model
from toplight_plugin.core.training.config import load_config
from toplight_plugin.hosts.torchreid.build import build_datamanager, build_engine

RECIPE = ["model.name", "toplight_mobilenetv3_large", "model.pretrained", "False", "data.height", "288",
          "data.width", "144", "data.workers", "8", "train.batch_size", "72", "sampler.num_instances", "6",
          "test.eval_freq", "-1", "toplight.trials", "1"]  # fmt: skip


def steps_per_second(root: Path, save: Path, amp: str, steps: int, compiled: bool = False) -> dict:
    cfg = load_config(None, [*RECIPE, "data.root", str(root.parent), "data.save_dir", str(save), "toplight.amp", amp,
                             "toplight.compile", str(compiled)])  # fmt: skip
    datamanager = build_datamanager(cfg, use_gpu=True)
    engine = build_engine(cfg, datamanager, build_model(cfg, datamanager.num_train_pids), use_gpu=True)
    engine.model.train()
    engine.epoch = engine.batch_idx = 0
    batches = [batch for batch, _ in zip(engine.train_loader.loader, range(steps), strict=False)]
    for batch in batches[:3]:  # cuDNN's autotuning and the allocator settle
        engine.forward_backward(batch)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("warn")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        start = time.perf_counter()
        for batch in batches[3:]:
            engine.forward_backward(batch)
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
    torch.cuda.set_sync_debug_mode("default")
    timed = len(batches) - 3
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    return {"amp": amp + (" compiled" if compiled else ""), "images_per_s": timed * 72 / seconds,
            "syncs_per_step": syncs / timed}  # fmt: skip


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--output", default="gpu_smoke.json")
    parser.add_argument("--compile", action="store_true", help="also time toplight.compile True (auto precision)")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        raise ValueError("no CUDA device: the GPU smoke check runs on a machine with a GPU")
    figures = {"device": torch.cuda.get_device_name(), "gpus": torch.cuda.device_count(), "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as folder:
        root = make_sysu(Path(folder) / "SYSU-MM01", num_ids=140, splits=(100, 20, 20), images_per_cam=6,
                         size=(288, 144))  # fmt: skip
        precisions = ["off", "fp16"] + (["bf16"] if torch.cuda.is_bf16_supported() else [])
        figures["steps"] = [steps_per_second(root, Path(folder) / amp, amp, args.steps) for amp in precisions]
        if args.compile:
            figures["steps"].append(steps_per_second(root, Path(folder) / "compiled", "auto", args.steps, True))
        if torch.cuda.device_count() > 1:
            ddp = Path(folder) / "ddp"
            command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
                       str(torch.cuda.device_count()), "-m", "toplight_plugin.cli.train", *RECIPE, "data.root",
                       str(root.parent), "data.save_dir", str(ddp), "train.max_epoch", "1"]  # fmt: skip
            start = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=os.environ)
            figures["ddp"] = {"returncode": done.returncode, "seconds": time.perf_counter() - start,
                              "tail": done.stderr[-2000:]}  # fmt: skip
    figures["loader"] = bench_loader.main(["--workers", "1", "2", "4", "8"])
    Path(args.output).write_text(json.dumps(figures, indent=2))
    print("| device | precision | images/s | syncs per step |\n|---|---|---|---|")
    for row in figures["steps"]:
        print(f"| {figures['device']} | {row['amp']} | {row['images_per_s']:.0f} | {row['syncs_per_step']:.2f} |")
    return figures


if __name__ == "__main__":
    main()

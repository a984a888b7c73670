"""Images per second that the training loaders decode and augment, per worker: what a GPU can be fed.

    toplight-bench-loader [--pipeline vi top] [--workers 1 2] [--batches 12] [--height 288 --width 144]
                          [--vi-root SYSU-MM01] [--top-root IMAGEFOLDER] [--normalize-on worker device]

``vi``: the visible-infrared pipeline (decode, the ``paper`` augmentations of one modality, collation) over a
synthetic SYSU-MM01 tree at the input size, or over the images of an existing SYSU-MM01 folder (``--vi-root``: the
originals, or a copy made by ``toplight-resize-copy``); ``top``: TOP pretraining's two views per image over a
synthetic ImageFolder at 224 x 224, or over an existing one (``--top-root``). The loaders are built as training
builds them (pinned memory on CUDA, persistent workers). ``--normalize-on``: float32 batches normalised in the
workers, uint8 batches left for the device (``toplight.normalize_on``), or both. The first batch of each run
(worker start) is not timed.
The machine's load is printed with the figures: other work on the CPUs lowers them.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.data.resized_copy import check_copy
from toplight_plugin.core.data.synthetic import make_imagefolder, make_sysu
from toplight_plugin.core.data.top_augment import TaskOrientedAugment
from toplight_plugin.core.data.transforms import ModalityAugment
from toplight_plugin.core.training.pretrain import PairedImageFolder

INFRARED_CAMERAS = ("cam3", "cam6")


class VIImages(torch.utils.data.Dataset):
    """The training item of the VI hosts without the host: decoded image, its modality's augmentations."""

    def __init__(self, root: Path, height: int, width: int, on_device: bool = False):
        self.paths = sorted(root.glob("cam*/*/*.jpg"))
        self.augment = ModalityAugment.preset("paper", height, width, on_device=on_device)

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, index):
        path = self.paths[index]
        modality = int(path.parts[-3] in INFRARED_CAMERAS)
        return self.augment(np.asarray(read_image(str(path))), modality), modality


def decode_ms(paths: list, count: int = 200) -> float:
    """Median milliseconds to read one image as the loaders read it (``read_image``), over up to ``count`` of
    ``paths`` (a second pass, files cached), in this process: the decoding share of a worker's time per image."""
    paths = [str(p) for p in paths[:count]]
    for _ in range(2):
        times = []
        for path in paths:
            start = time.perf_counter()
            np.asarray(read_image(path))
            times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times))


def images_per_second(dataset, workers: int, batch_size: int, batches: int) -> float:
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=workers,
        persistent_workers=workers > 0, pin_memory=torch.cuda.is_available(),
    )  # fmt: skip
    if len(loader) < batches + 1:
        raise ValueError(f"--batches {batches}: the images give {len(loader)} batches of {batch_size}, "
                         f"{batches + 1} needed (the first is not timed)")  # fmt: skip
    iterator = iter(loader)
    next(iterator)  # worker start-up
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pipeline", nargs="+", choices=("vi", "top"), default=["vi", "top"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2], help="worker counts to time")
    parser.add_argument("--batches", type=int, default=12, help="timed batches per run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--height", type=int, default=288)
    parser.add_argument("--width", type=int, default=144)
    parser.add_argument("--vi-root", type=Path, help="an existing SYSU-MM01 folder (cam*/<id>/*.jpg) for vi")
    parser.add_argument("--top-root", type=Path, help="an existing ImageFolder (<class>/<image>) for top")
    parser.add_argument("--normalize-on", nargs="+", choices=("worker", "device"), default=["worker", "device"],
                        help="float32 batches normalised in the workers, uint8 batches for the device, or both")
    args = parser.parse_args(argv)
    if min(args.workers) < 1 or args.batches < 1 or args.batch_size < 1:
        raise ValueError("--workers, --batches and --batch-size must be at least 1")
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        count = (args.batches + 2) * args.batch_size
        datasets, roots = {}, {}
        if "vi" in args.pipeline and args.vi_root:
            check_copy(args.vi_root, args.height, args.width)  # an unfinished copy, or one at another size
            roots["vi"] = args.vi_root
            if not VIImages(args.vi_root, args.height, args.width).paths:
                raise FileNotFoundError(f"--vi-root {args.vi_root}: no cam*/<id>/*.jpg images under it")
        elif "vi" in args.pipeline:
            ids = count // 6 + 1  # not every identity appears in every camera
            roots["vi"] = make_sysu(Path(folder) / "SYSU-MM01", num_ids=ids + 2, splits=(ids, 1, 1),
                                    images_per_cam=2, size=(args.height, args.width))  # fmt: skip
        if "top" in args.pipeline:
            synthetic = Path(folder) / "if"
            roots["top"] = args.top_root or make_imagefolder(synthetic, num_classes=8, images_per_class=count // 8 + 1)
        for where in args.normalize_on:
            device = where == "device"
            if "vi" in roots:
                datasets["vi", where] = VIImages(roots["vi"], args.height, args.width, on_device=device)
            if "top" in roots:
                augment = TaskOrientedAugment(224, 224, on_device=device)
                datasets["top", where] = PairedImageFolder(roots["top"], augment)
        for name, root in (("vi", args.vi_root), ("top", args.top_root)):
            if name in roots:
                dataset = datasets[name, args.normalize_on[0]]
                size = f"{args.height} x {args.width}" if name == "vi" else "224 x 224"
                paths = dataset.paths if name == "vi" else [p for p, _ in dataset.samples]
                print(f"{name}: {len(dataset)} images under {root or 'a synthetic set at ' + size}; "
                      f"decoding one takes {decode_ms(paths):.2f} ms (median)")  # fmt: skip
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; torch threads per worker 1")
        print("| pipeline | batches | workers | images/s | per worker |\n|---|---|---|---|---|")
        for (name, where), dataset in datasets.items():
            kind = "uint8, normalised on the device" if where == "device" else "float32, normalised in the workers"
            for workers in args.workers:
                rate = images_per_second(dataset, workers, args.batch_size, args.batches)
                results[f"{name}/{where}/{workers}"] = rate
                print(f"| {name} | {kind} | {workers} | {rate:.0f} | {rate / workers:.0f} |")
    return results

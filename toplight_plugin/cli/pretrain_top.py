"""Task-oriented pretraining (step 1) followed by the uniform soup (step 2), or standard pretraining (``stage sp``).

    toplight-pretrain --config-file configs/pretrain/mbv3l.yaml [--resume] [KEY VALUE ...]

Writes ``epoch-N.pth`` / ``last.pth`` (atomic, resumable) and, at the end, ``soup.pth`` (TOP): the weights a VI
config loads with ``model.load_weights``; or ``sp.pth`` (SP): the library network's state_dict, which TOP and VI
configs load as they load ImageNet weights. TensorBoard scalars and the text log (``pretrain.log-<time>``, one line
per epoch) go to the same folder. Several GPUs (or CPU processes, gloo): ``torchrun --nproc_per_node N -m
toplight_plugin.cli.pretrain_top ...``; ``train.batch_size`` is per process.
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

import torch
from torch.utils.tensorboard import SummaryWriter
from tqdm import tqdm

from toplight_plugin.cli.overrides import add_overrides, parse
from toplight_plugin.cli.soup import soup_file
from toplight_plugin.cli.textlog import run_log
from toplight_plugin.core.data.device_normalize import on_device
from toplight_plugin.core.data.loading import PersistentLoader
from toplight_plugin.core.data.top_augment import TaskOrientedAugment
from toplight_plugin.core.data.transforms import device_normalize
from toplight_plugin.core.training import checkpoint, distributed, precision, run_folder
from toplight_plugin.core.training.config import load_config
from toplight_plugin.core.training.pretrain import PairedImageFolder, build_stage, collapsed, get_default_config
from toplight_plugin.core.training.seeding import start_epoch
from toplight_plugin.core.training.step import read_step


def epoch_loader(cfg, dataset, device: torch.device):
    """The loader every epoch iterates, built once (workers persist across epochs), and the generator that each
    epoch reseeds for its shuffle and its workers' base seed. Each rank gets its disjoint share of the epoch's
    permutation under torchrun."""
    generator = torch.Generator()
    if distributed.active():
        sampler = torch.utils.data.DistributedSampler(dataset, seed=cfg.train.seed, drop_last=True)
    else:
        sampler = torch.utils.data.RandomSampler(dataset, generator=generator)
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=cfg.train.batch_size, sampler=sampler, drop_last=True, num_workers=cfg.data.workers,
        generator=generator, pin_memory=device.type == "cuda",
    )  # fmt: skip
    return (PersistentLoader(loader, generator) if cfg.data.workers else loader), generator


def pretrain(cfg, resume: bool = False, overwrite: bool = False) -> Path:
    """Run the configured pretraining, its console lines also in ``<save_dir>/pretrain.log-<time>``; returns the
    path of the soup (TOP) or of the library weights (SP). ``overwrite``: start afresh over a run in save_dir."""
    if resume and overwrite:
        raise ValueError("--resume continues the run in data.save_dir and --overwrite replaces it: give one of them")
    distributed.init_from_env()
    with run_log(cfg.data.save_dir, "pretrain", resume, overwrite) if distributed.is_main() else nullcontext():
        return _pretrain(cfg, resume, overwrite)


def _pretrain(cfg, resume: bool, overwrite: bool) -> Path:
    torch.manual_seed(cfg.train.seed)
    device = torch.device("cuda", torch.cuda.current_device()) if torch.cuda.is_available() else torch.device("cpu")
    main_rank = distributed.is_main()
    amp = precision.amp_dtype(cfg.top.amp, device, "top.amp")
    precision.configure(device)
    save_dir = Path(cfg.data.save_dir)
    sp = cfg.stage == "sp"
    device_batches = on_device(cfg.data.normalize_on, device, "data.normalize_on")
    augment = TaskOrientedAugment(cfg.data.height, cfg.data.width, task_oriented=cfg.top.task_augs and not sp,
                                  mean=tuple(cfg.data.norm_mean), std=tuple(cfg.data.norm_std),
                                  views=1 if sp else 2, on_device=device_batches)  # fmt: skip
    normalize = device_normalize(cfg.data.norm_mean, cfg.data.norm_std)
    dataset = PairedImageFolder(cfg.data.root, augment)
    per_rank = len(dataset) // distributed.world_size()
    if per_rank < cfg.train.batch_size:  # drop_last: not one step per epoch, and a soup of the initial weights
        raise ValueError(
            f"data.root {cfg.data.root}: {len(dataset)} images ({per_rank} per process) are fewer than "
            f"train.batch_size {cfg.train.batch_size}: no full batch, so no training step; lower train.batch_size"
        )
    top = build_stage(cfg, len(dataset.classes)).to(device)  # unwrapped: what checkpoints hold
    if main_rank:  # once the data and model are built: a run that fails before leaves the folder as it was
        for old in run_folder.clear(save_dir) if overwrite else []:
            print(f"--overwrite: removed {old}")
        run_folder.write_config(save_dir, cfg.dump())
    model = top
    if distributed.active():
        ids = [device.index] if device.type == "cuda" else None
        unused = not (cfg.top.fake_domain or sp)  # without L_fd, path 2's Block4 output feeds no loss of its own
        model = torch.nn.parallel.DistributedDataParallel(top, device_ids=ids, find_unused_parameters=unused)
    params = [p for p in top.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=cfg.train.lr, momentum=cfg.train.momentum,
                                weight_decay=cfg.train.weight_decay, fused=device.type == "cuda")  # fmt: skip
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=cfg.train.max_epoch)
    scaler = precision.grad_scaler(device, amp)
    start = 0
    if resume and (save_dir / checkpoint.LAST).exists():
        state = checkpoint.load(save_dir / checkpoint.LAST)
        checkpoint.check_resumable(state, top.net, save_dir / checkpoint.LAST)  # as --weights: model, classes, NaN
        top.load_state_dict(state["top"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        for line in checkpoint.restore_scaler(scaler, state, save_dir / checkpoint.LAST):
            print(line)
        start = int(state["epoch"])
        print(f"resumed from {save_dir / checkpoint.LAST} at epoch {start}")
    writer = SummaryWriter(log_dir=str(save_dir)) if main_rank else distributed.NullWriter()
    loader, generator = epoch_loader(cfg, dataset, device)
    identity_history = []  # the identity term's epoch means, to see a collapse (pretrain.collapsed)
    for epoch in range(start, cfg.train.max_epoch):
        start_epoch(cfg.train.seed, epoch, loader.sampler)
        generator.manual_seed(torch.initial_seed())  # the epoch's shuffle and workers' base seed
        model.train()
        sums, start_time = {}, time.time()
        bar = tqdm(loader, desc=f"epoch {epoch + 1}/{cfg.train.max_epoch}", leave=False, disable=not main_rank)
        for step, batch in enumerate(bar):
            top.set_progress((epoch * len(loader) + step) / (cfg.train.max_epoch * len(loader)))
            batch = [tensor.to(device, non_blocking=True) for tensor in batch]  # (view 1, [view 2,] labels)
            batch = [normalize(tensor) if tensor.dtype == torch.uint8 else tensor for tensor in batch]
            with precision.autocast(device, amp):
                losses = model(*batch)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(losses["loss"]).backward()
            values, finite = read_step(losses)  # the step's one host read, the backward queued
            checkpoint.stop_if_diverged(
                torch.tensor(values["loss"]), "pretraining", epoch + 1, step + 1, save_dir,
                "lower train.lr and start again: --resume keeps the saved learning rate", finite=finite,
            )  # fmt: skip
            if cfg.train.grad_clip > 0:
                scaler.unscale_(optimizer)  # the bound is on the true gradients, not on fp16's scaled ones
                torch.nn.utils.clip_grad_norm_(params, cfg.train.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            for name, value in values.items():
                sums[name] = sums.get(name, 0.0) + value
                writer.add_scalar(f"Pretrain/{name}", value, epoch * len(loader) + step)
            bar.set_postfix(loss=f"{sums['loss'] / (step + 1):.3f}", refresh=False)
        lr = optimizer.param_groups[0]["lr"]
        writer.add_scalar("Pretrain/lr", lr, epoch)
        scheduler.step()
        sums, batches = distributed.sum_over_ranks(sums, len(loader))
        if not main_rank:
            continue
        terms = "  ".join(f"{name} {value / batches:.4f}" for name, value in sums.items())
        print(f"epoch {epoch + 1}/{cfg.train.max_epoch}  {terms}  lr {lr:.2e}  {time.time() - start_time:.0f} s")
        identity = next((name for name in ("loss_idc", "loss_id") if name in sums), None)
        if identity:
            identity_history.append(sums[identity] / batches)
            if collapsed(identity_history, len(dataset.classes)):
                warnings.warn(
                    f"epoch {epoch + 1}: {identity} {identity_history[-1]:.2f} is back near chance (2 ln "
                    f"{len(dataset.classes)} = {2 * math.log(len(dataset.classes)):.2f}) after "
                    f"{min(identity_history):.2f}: the stage collapsed, and its soup will not help; start again "
                    "with a smaller top.grl_scale or train.lr (docs/learning.md)", stacklevel=1,
                )  # fmt: skip
        state = {**top.model_state(), "top": top.state_dict(), "epoch": epoch + 1,
                 "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                 "scaler": scaler.state_dict()}  # fmt: skip
        checkpoint.atomic_save(state, save_dir / f"epoch-{epoch + 1}.pth")
        checkpoint.atomic_save(state, save_dir / checkpoint.LAST)
        checkpoint.keep_last(save_dir, cfg.train.keep_last)
    writer.close()
    result = save_dir / ("sp.pth" if sp else "soup.pth")
    if main_rank:
        if sp:
            checkpoint.atomic_save(top.model_state(), result)
        else:
            soup_file(save_dir / checkpoint.LAST, result)
        print(f"{'library weights' if sp else 'soup'} written to {result}")
    return result


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", help="yacs file; defaults are Table 2a's recipe")
    parser.add_argument("--resume", action="store_true", help="continue from <save_dir>/last.pth")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh in a data.save_dir that holds a run, deleting its checkpoints")
    add_overrides(parser, "train.max_epoch 10")
    args = parse(parser, argv)
    try:
        cfg = load_config(args.config_file, args.opts, defaults=get_default_config)
        return pretrain(cfg, args.resume, args.overwrite)
    finally:
        distributed.shutdown()


if __name__ == "__main__":
    main()

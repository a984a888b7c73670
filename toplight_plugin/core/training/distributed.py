"""Multi-process training under ``torchrun``: process group from the environment, rank-0 output, gathering."""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def init_from_env() -> torch.device:
    """Join the process group ``torchrun`` describes (NCCL on CUDA, gloo on CPU); the device of this process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    if cuda:
        torch.cuda.set_device(local)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    return torch.device("cuda", local) if cuda else torch.device("cpu")


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if active() else 0


def world_size() -> int:
    return dist.get_world_size() if active() else 1


def is_main() -> bool:
    return rank() == 0


def from_main(make):
    """``make()`` run by rank 0 alone, its result given to every process: files that may exist on rank 0's node
    only (a node-local data.save_dir) are read once, and every process starts from the same checkpoint."""
    if not active():
        return make()
    box = [make() if is_main() else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


@torch.no_grad()
def sync_buffers(module: torch.nn.Module) -> None:
    """Give every rank rank 0's buffers. DDP broadcasts them before each training forward, but each rank then updates
    its BatchNorm statistics with its own batch, so after training they differ and sharded features would too."""
    if active():
        for buffer in module.buffers():
            dist.broadcast(buffer, src=0)


def shard_loader(loader: torch.utils.data.DataLoader) -> torch.utils.data.DataLoader:
    """The loader over this process's batches only (batches rank, rank + world, ...), so each image is decoded by
    one process; its workers, pinning and collation as the loader's."""
    if not active():
        return loader
    batches = list(loader.batch_sampler)[rank() :: world_size()]
    return torch.utils.data.DataLoader(
        loader.dataset, batch_sampler=batches, num_workers=loader.num_workers, collate_fn=loader.collate_fn,
        pin_memory=loader.pin_memory, worker_init_fn=loader.worker_init_fn,
    )  # fmt: skip


def gather_batches(local: list[tuple[int, tuple]]) -> list[tuple]:
    """Every rank's ``(batch index, payload)`` pairs, merged in batch order, on every rank."""
    if not active():
        return [payload for _, payload in sorted(local, key=lambda item: item[0])]
    shards = [None] * world_size()
    dist.all_gather_object(shards, local)
    merged = [item for shard in shards for item in shard]
    return [payload for _, payload in sorted(merged, key=lambda item: item[0])]


def _device() -> torch.device:
    """Where a collective's tensors must be: NCCL reduces CUDA tensors only."""
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


@torch.no_grad()
def finite_flag(value: torch.Tensor) -> torch.Tensor:
    """1.0 where ``value`` is finite in every process (itself alone outside ``torchrun``), else 0.0, shape (1,): a
    tensor, reduced across processes without a host read, for step.read_step to read with the loss terms."""
    flag = torch.isfinite(value.detach()).all().to(torch.float32).reshape(1)
    if active():
        flag = flag.to(_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return flag


def sum_over_ranks(sums: dict[str, float], count: int) -> tuple[dict[str, float], int]:
    """Every process's running sums and batch count added up, in every process: the epoch line, TensorBoard and
    what ``end_epoch`` reads (DDAG's w_G) then describe the whole epoch, not rank 0's share of it."""
    if not active():
        return sums, count
    keys = sorted(sums)
    values = torch.tensor([sums[key] for key in keys] + [float(count)], dtype=torch.float64, device=_device())
    dist.all_reduce(values)
    totals = values.tolist()
    return dict(zip(keys, totals[:-1], strict=True)), int(totals[-1])


class NullWriter:
    """Stands in for the TensorBoard writer on ranks other than 0."""

    def add_scalar(self, *args, **kwargs):
        pass

    def close(self):
        pass

"""The visible-infrared engine: torchreid's ``Engine`` with its hooks overridden, its training loop untouched.

- ``forward_backward``: each sample's modality goes to the model (and the identities, where its card names
  ``takes_pids``); L = L_id + γ L_tri (§3.4), or the model's own loss (``wrap_loss``, e.g. DDAG's); mixed precision
  (core.training.precision); one host read per step (core.training.step): routing uses the loader's host copy of the
  modality codes, and the losses, accuracy and finite flag cross together.
- ``train`` (one epoch): seeds the epoch from (seed, epoch, rank) before torchreid's loop and writes a checkpoint after
  it, so a run killed at any point and resumed from its last checkpoint replays the same batches and augmentations.
- ``_evaluate``: the published protocols (evaluate.evaluate_published) instead of torchreid's Market rule.
- ``save_model``: atomic checkpoints with plain Python floats, loadable with ``weights_only=True``.
Under ``torchrun`` the model is wrapped in DistributedDataParallel, each rank trains on its sampler share, features
are extracted in shards and gathered, and only rank 0 writes checkpoints, logs and results.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from tqdm import tqdm

from toplight_plugin.core.evaluation.protocols import ProtocolOptions
from toplight_plugin.core.models.cards import card_of
from toplight_plugin.core.training import checkpoint, distributed, precision
from toplight_plugin.core.training.losses import IdentityTripletLoss
from toplight_plugin.core.training.seeding import start_epoch
from toplight_plugin.core.training.step import read_step
from toplight_plugin.hosts.torchreid import compat
from toplight_plugin.hosts.torchreid.evaluate import evaluate_published


class ProgressLoader:
    """The training loader seen through a tqdm bar (torchreid's loop only iterates it and asks its length); the bar
    shows the epoch's running loss and accuracy, and the epoch ends with one log line."""

    def __init__(self, loader, engine):
        self.loader, self.engine = loader, engine
        self.sampler = loader.sampler
        self.bar, self.sums, self.count = None, {}, 0

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        description = f"epoch {self.engine.epoch + 1}/{self.engine.max_epoch}"
        self.sums, self.count, start = {}, 0, time.time()
        self.bar = tqdm(
            self.loader, desc=description, leave=False, dynamic_ncols=True, disable=not distributed.is_main()
        )
        yield from self.bar
        self.sums, self.count = distributed.sum_over_ranks(self.sums, self.count)
        means, lr, epoch = self.means(), self.engine.get_current_lr(), self.engine.epoch + 1
        print(
            f"epoch {epoch}/{self.engine.max_epoch}  loss {means.get('loss', float('nan')):.4f}  "
            f"acc {means.get('acc', float('nan')):.1f} %  lr {lr:.2e}  {time.time() - start:.0f} s"
        )
        if self.engine.writer is not None:  # one point per epoch, what docs/learning.md plots
            for key, value in {**means, "lr": lr}.items():
                self.engine.writer.add_scalar(f"Epoch/{key}", value, epoch)

    def update(self, summary: dict[str, float]) -> None:
        """Add one batch's losses to the epoch's running means shown on the bar."""
        for key, value in summary.items():
            self.sums[key] = self.sums.get(key, 0.0) + value
        self.count += 1
        means = self.means()
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{means['loss']:.3f}", acc=f"{means['acc']:.1f}", refresh=False)

    def means(self) -> dict[str, float]:
        return {key: value / max(self.count, 1) for key, value in self.sums.items()}


class VIEngine(compat.torchreid().engine.Engine):
    def __init__(
        self,
        datamanager,
        model,
        optimizer,
        scheduler,
        criterion: IdentityTripletLoss,
        save_dir: str,
        seed: int = 1,
        amp: str = "auto",
        channels_last: bool = False,
        compile_model: bool = False,
        sync_bn: bool = False,
        checkpoint_every: int = 1,
        keep_last: int = 0,
        protocol: ProtocolOptions | None = None,
        use_gpu: bool = True,
        normalize=None,
    ):
        super().__init__(datamanager, use_gpu=use_gpu)
        self.normalize = normalize  # core.data.device_normalize: uint8 batches finished on the device
        self.device = torch.device("cuda", torch.cuda.current_device()) if self.use_gpu else torch.device("cpu")
        self.net = model.to(self.device)  # unwrapped: what checkpoints hold
        self.hooks = card_of(model).hooks
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:  # before DDP registers the parameters
            self.net.to(memory_format=torch.channels_last)
        if sync_bn:
            if not (distributed.active() and self.device.type == "cuda"):
                raise ValueError("toplight.sync_bn True needs several GPU processes (torchrun; SyncBatchNorm reduces "
                                 "over NCCL): set it False here")  # fmt: skip
            self.net = torch.nn.SyncBatchNorm.convert_sync_batchnorm(self.net)  # same checkpoint keys
        if distributed.active():
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
            if not distributed.is_main():
                self.writer = distributed.NullWriter()
        if compile_model:  # the training forward only: evaluation runs self.net, whose batches vary in size
            model = torch.compile(model)
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.register_model("model", self.model, optimizer, scheduler)
        self.criterion, self.seed, self.save_dir = criterion, seed, Path(save_dir)
        self.amp = precision.amp_dtype(amp, self.device)
        self.scaler = precision.grad_scaler(self.device, self.amp)
        precision.configure(self.device)
        if checkpoint_every < 1:
            raise ValueError(f"toplight.checkpoint_every must be at least 1 (epochs), got {checkpoint_every}")
        self.checkpoint_every, self.protocol = checkpoint_every, protocol or ProtocolOptions()
        self.keep_last = keep_last  # epoch-N.pth files kept (0: all)
        self.loaded = None  # the checkpoint resumed from, until the next one is written
        self.max_epoch = 0
        self.batch_size = self.train_loader.batch_size if self.train_loader is not None else 0  # per process
        if self.train_loader is not None:
            self.train_loader = ProgressLoader(self.train_loader, self)

    # -- training ------------------------------------------------------------------------------------------------
    def _autocast(self):
        return precision.autocast(self.device, self.amp)

    def parse_data_for_train(self, data):
        return data["img"], data["pid"], data["modality"]

    def forward_backward(self, data):
        imgs, pids, modality = self.parse_data_for_train(data)
        imgs = imgs.to(self.device, memory_format=self.memory_format, non_blocking=True)
        if imgs.dtype == torch.uint8:
            imgs = self.normalize(imgs, data["post_ops"]).contiguous(memory_format=self.memory_format)
        pids = pids.to(self.device, non_blocking=True)
        codes = modality.numpy()  # the host copy: an array, which DistributedDataParallel leaves where it is
        with self._autocast():  # a model with training-only branches (DDAG's graph) takes the identities too
            outputs = self.model(imgs, codes, pids) if "takes_pids" in self.hooks else self.model(imgs, codes)
        logits, features, *aux = outputs
        losses = self.criterion(logits, features, pids, *aux)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        accuracy = (logits.detach().argmax(dim=1) == pids).float().mean() * 100
        summary, finite = read_step({**losses, "acc": accuracy})  # the step's one host read, the backward queued
        checkpoint.stop_if_diverged(
            torch.tensor(summary["loss"]), "training", self.epoch + 1, self.batch_idx + 1, self.save_dir,
            "lower train.lr or raise toplight.warmup_epochs and start again: a resume keeps the saved schedule",
            finite=finite, loaded=self.loaded,
        )  # fmt: skip
        self.scaler.step(self.optimizer)  # no read with a fused optimizer (build.build_optimizer on CUDA)
        self.scaler.update()
        if isinstance(self.train_loader, ProgressLoader):
            self.train_loader.update(summary)
        return summary

    def train(self, **kwargs):
        start_epoch(self.seed, self.epoch, self.train_loader.sampler)
        super().train(**kwargs)
        if "end_epoch" in self.hooks:  # before the checkpoint, so a resume continues from it (DDAG's w_G)
            self.net.end_epoch(self.train_loader.means())
        done = self.epoch + 1
        if (done % self.checkpoint_every == 0 or done == self.max_epoch) and distributed.is_main():
            self.save_model(self.epoch, None, str(self.save_dir))

    # -- checkpoints ---------------------------------------------------------------------------------------------
    def save_model(self, epoch, rank1, save_dir, is_best=False):
        if not distributed.is_main():
            return None
        state = {
            **checkpoint.model_state(self.net),
            "epoch": epoch + 1,
            "rank1": None if rank1 is None else float(rank1),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict(),
            "run": checkpoint.run_facts(distributed.world_size(), self.batch_size, self.amp),
        }
        path = checkpoint.atomic_save(state, Path(save_dir) / f"epoch-{epoch + 1}.pth")
        checkpoint.atomic_save(state, Path(save_dir) / checkpoint.LAST)
        checkpoint.keep_last(save_dir, self.keep_last)
        self.loaded = None
        return path

    def resume(self, path: str | Path, state: dict) -> int:
        """Load model, optimizer, scheduler and scaler state (``state``: the checkpoint at ``path``, as rank 0 read
        it, the same in every process), checked as ``--weights`` are; returns the epoch to start from."""
        checkpoint.check_resumable(state, self.net, path)
        self.net.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        saved, now = state.get("run", {}).get("amp"), checkpoint.run_facts(1, 0, self.amp)["amp"]
        if saved not in (None, now):
            print(f"{path}: trained with mixed precision {saved}, continuing with {now} (toplight.amp)")
        for line in checkpoint.restore_scaler(self.scaler, state, path):
            print(line)
        self.loaded = Path(path)
        return int(state["epoch"])

    # -- evaluation ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def extract(self, loader):
        """Features (float32, CPU, as the model gives them: the protocols normalise), pids and camids of a loader
        of the plugin's items.

        Under DDP each rank decodes and runs only its own batches (every world_size-th) and the shards are gathered
        back in order.
        """
        local = []
        rank, world = distributed.rank(), distributed.world_size()
        shard = distributed.shard_loader(loader)
        bar = tqdm(shard, desc="features", leave=False, dynamic_ncols=True, disable=not distributed.is_main())
        for index, data in enumerate(bar):
            imgs = data["img"].to(self.device, memory_format=self.memory_format, non_blocking=True)
            with self._autocast():
                f = self.net(imgs, data["modality"].numpy())
            local.append((index * world + rank, (f.float().cpu(), data["pid"], data["camid"])))
        feats, pids, camids = zip(*distributed.gather_batches(local), strict=True)
        return torch.cat(feats), torch.cat(pids).numpy(), torch.cat(camids).numpy()

    def _evaluate(self, dataset_name="", query_loader=None, gallery_loader=None, **kwargs):
        distributed.sync_buffers(self.net)  # the statistics rank 0 saves are the ones every shard uses
        return evaluate_published(self, self.extract, query_loader, gallery_loader, dataset_name=dataset_name, **kwargs)

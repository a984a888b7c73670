"""The visible-infrared engine: torchreid's ``Engine`` with its hooks overridden, its training loop untouched.

- ``forward_backward``: each sample's modality goes to the model (and the identities, where its card names
  ``takes_pids``); L = L_id + γ L_tri (§3.4), or the model's own loss (``wrap_loss``, e.g. DDAG's); AMP on CUDA.
- ``train`` (one epoch): seeds the epoch from (seed, epoch) before torchreid's loop and writes a checkpoint after
  it, so a run killed at any point and resumed from its last checkpoint replays the same batches and augmentations.
- ``_evaluate``: the published protocols (evaluate.evaluate_published) instead of torchreid's Market rule.
- ``save_model``: atomic checkpoints with plain Python floats, loadable with ``weights_only=True``.
Under ``torchrun`` the model is wrapped in DistributedDataParallel, each rank trains on its sampler share, features
are extracted in shards and gathered, and only rank 0 writes checkpoints, logs and results.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from pathlib import Path

import torch
from tqdm import tqdm

from toplight_plugin.core.evaluation.protocols import ProtocolOptions
from toplight_plugin.core.models.cards import card_of
from toplight_plugin.core.training import checkpoint, distributed
from toplight_plugin.core.training.config_checks import AMP_DTYPES
from toplight_plugin.core.training.losses import IdentityTripletLoss
from toplight_plugin.core.training.seeding import seed_epoch
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
        amp: str = "off",
        channels_last: bool = False,
        checkpoint_every: int = 1,
        keep_last: int = 0,
        protocol: ProtocolOptions | None = None,
        use_gpu: bool = True,
    ):
        super().__init__(datamanager, use_gpu=use_gpu)
        self.device = torch.device("cuda", torch.cuda.current_device()) if self.use_gpu else torch.device("cpu")
        self.net = model.to(self.device)  # unwrapped: what checkpoints hold
        self.hooks = card_of(model).hooks
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        if channels_last:  # before DDP registers the parameters
            self.net.to(memory_format=torch.channels_last)
        if distributed.active():
            ids = [self.device.index] if self.device.type == "cuda" else None
            model = torch.nn.parallel.DistributedDataParallel(self.net, device_ids=ids)
            if not distributed.is_main():
                self.writer = distributed.NullWriter()
        self.model, self.optimizer, self.scheduler = model, optimizer, scheduler
        self.register_model("model", self.model, optimizer, scheduler)
        self.criterion, self.seed, self.save_dir = criterion, seed, Path(save_dir)
        if amp not in ("off", *AMP_DTYPES):
            raise ValueError(f"toplight.amp must be off, bf16 or fp16, got {amp!r}")
        self.amp = AMP_DTYPES.get(amp) if self.device.type == "cuda" else None
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp is torch.float16)
        if checkpoint_every < 1:
            raise ValueError(f"toplight.checkpoint_every must be at least 1 (epochs), got {checkpoint_every}")
        self.checkpoint_every, self.protocol = checkpoint_every, protocol or ProtocolOptions()
        self.keep_last = keep_last  # epoch-N.pth files kept (0: all)
        self.loaded = None  # the checkpoint resumed from, until the next one is written
        self.max_epoch = 0
        if self.train_loader is not None:
            self.train_loader = ProgressLoader(self.train_loader, self)

    # -- training ------------------------------------------------------------------------------------------------
    def _autocast(self):
        return torch.autocast("cuda", dtype=self.amp) if self.amp is not None else nullcontext()

    def parse_data_for_train(self, data):
        return data["img"], data["pid"], data["modality"]

    def forward_backward(self, data):
        imgs, pids, modality = self.parse_data_for_train(data)
        imgs = imgs.to(self.device, memory_format=self.memory_format, non_blocking=True)
        pids, modality = pids.to(self.device), modality.to(self.device)
        with self._autocast():  # a model with training-only branches (DDAG's graph) takes the identities too
            outputs = self.model(imgs, modality, pids) if "takes_pids" in self.hooks else self.model(imgs, modality)
        logits, features, *aux = outputs
        losses = self.criterion(logits, features, pids, *aux)
        checkpoint.stop_if_diverged(
            losses["loss"], "training", self.epoch + 1, self.batch_idx + 1, self.save_dir,
            "lower train.lr or raise toplight.warmup_epochs and start again: a resume keeps the saved schedule",
            finite=distributed.all_finite(losses["loss"]), loaded=self.loaded,
        )  # fmt: skip
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["loss"]).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        summary = {name: value.item() for name, value in losses.items()}
        summary["acc"] = (logits.argmax(dim=1) == pids).float().mean().item() * 100
        if isinstance(self.train_loader, ProgressLoader):
            self.train_loader.update(summary)
        return summary

    def train(self, **kwargs):
        seed_epoch(self.seed, self.epoch)
        sampler = self.train_loader.sampler
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(self.epoch)
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
        }
        path = checkpoint.atomic_save(state, Path(save_dir) / f"epoch-{epoch + 1}.pth")
        checkpoint.atomic_save(state, Path(save_dir) / checkpoint.LAST)
        checkpoint.keep_last(save_dir, self.keep_last)
        self.loaded = None
        return path

    def resume(self, path: str | Path) -> int:
        """Load model, optimizer, scheduler and scaler state, checked as ``--weights`` are; returns the epoch to
        start from."""
        state = checkpoint.load(path)
        checkpoint.check_resumable(state, self.net, path)
        self.net.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.scaler.load_state_dict(state["scaler"])
        self.loaded = Path(path)
        return int(state["epoch"])

    # -- evaluation ----------------------------------------------------------------------------------------------
    @torch.no_grad()
    def extract(self, loader):
        """Features (float32, CPU, as the model gives them: the protocols normalise), pids and camids of a loader
        of the plugin's items.

        Under DDP each rank takes every world_size-th batch and the shards are gathered back in order.
        """
        local = []
        rank, world = distributed.rank(), distributed.world_size()
        bar = tqdm(loader, desc="features", leave=False, dynamic_ncols=True, disable=not distributed.is_main())
        for index, data in enumerate(bar):
            if index % world != rank:
                continue
            imgs = data["img"].to(self.device, memory_format=self.memory_format)
            with self._autocast():
                f = self.net(imgs, data["modality"].to(self.device))
            local.append((index, (f.float().cpu(), data["pid"], data["camid"])))
        feats, pids, camids = zip(*distributed.gather_batches(local), strict=True)
        return torch.cat(feats), torch.cat(pids).numpy(), torch.cat(camids).numpy()

    def _evaluate(self, dataset_name="", query_loader=None, gallery_loader=None, **kwargs):
        distributed.sync_buffers(self.net)  # the statistics rank 0 saves are the ones every shard uses
        return evaluate_published(self, self.extract, query_loader, gallery_loader, dataset_name=dataset_name, **kwargs)

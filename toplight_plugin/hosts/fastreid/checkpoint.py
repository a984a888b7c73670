"""fast-reid's Checkpointer with the plugin's file rules: written atomically (a run killed while saving leaves the
previous file whole), read with ``torch.load(weights_only=True)``, and a plugin checkpoint (the torchreid host's
``last.pth``, a TOP soup) accepted wherever fast-reid takes ``MODEL.WEIGHTS``: the tensors are the same, without
the meta-architecture's ``backbone.`` prefix. Every model tensor must come from the file except the classifier sized
by the training set, checked by the core (no silently random BNNeck at evaluation). A saved file carries the core
network's model card, as the torchreid host's checkpoints do."""

from __future__ import annotations

from pathlib import Path

from fastreid.utils.checkpoint import Checkpointer

from toplight_plugin.core.models.assemble import load_own_checkpoint
from toplight_plugin.core.models.cards import CARD, card_of
from toplight_plugin.core.models.heads import TRAINING_ONLY
from toplight_plugin.core.models.weights import load_state_dict_file, safe_load
from toplight_plugin.core.training.checkpoint import atomic_save

PREFIX = "backbone."  # where TOPLightBaseline holds the core network


class PluginCheckpointer(Checkpointer):
    def save(self, name: str, **kwargs) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        network = getattr(self.model, "module", self.model).backbone  # the core network, inside DDP too
        data = {"model": self.model.state_dict(), CARD: card_of(network).to_dict(),
                **{k: v.state_dict() for k, v in self.checkpointables.items()}}  # fmt: skip
        path = atomic_save({**data, **kwargs}, Path(self.save_dir) / f"{name}.pth")
        self.logger.info(f"Saved checkpoint to {path}")
        self.tag_last_checkpoint(path.name)

    def _load_file(self, f: str) -> dict:
        self.source = f
        checkpoint = safe_load(f)
        if isinstance(checkpoint, dict) and isinstance(checkpoint.get("model"), dict):
            return checkpoint
        return {"model": {PREFIX + k: v for k, v in load_state_dict_file(f).items()}}

    def _load_model(self, checkpoint: dict) -> None:
        state = {k.removeprefix("module.").removeprefix(PREFIX): v for k, v in checkpoint.pop("model").items()}
        skipped = load_own_checkpoint(self.model.backbone, state, self.source, TRAINING_ONLY)
        if skipped:
            self.logger.info(f"{self.source}: left at their initial values (sized by another training set): {skipped}")

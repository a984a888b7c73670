"""fast-reid's DefaultTrainer with the plugin's data, evaluator and checkpointer; its training loop, hooks, solver
and schedule untouched (SOLVER.*)."""

from __future__ import annotations

from fastreid.engine import DefaultTrainer

from . import compat
from .checkpoint import PluginCheckpointer
from .config import protocol_options
from .data import build_test_loader, build_train_loader
from .datasets import build_dataset
from .evaluator import VIEvaluator


class Trainer(DefaultTrainer):
    @classmethod
    def build_optimizer(cls, cfg, model):
        return compat.build_optimizer(cfg, model)

    @classmethod
    def build_train_loader(cls, cfg):
        return build_train_loader(cfg)

    @classmethod
    def build_test_loader(cls, cfg, dataset_name):
        """(loader, number of query images), as fast-reid's."""
        dataset = build_dataset(cfg, dataset_name)
        return build_test_loader(cfg, dataset), len(dataset.query)

    @classmethod
    def build_evaluator(cls, cfg, dataset_name, output_dir=None):
        dataset = build_dataset(cfg, dataset_name)
        evaluator = VIEvaluator(dataset, protocol_options(cfg), output_dir or cfg.OUTPUT_DIR)
        return build_test_loader(cfg, dataset), evaluator

    def build_hooks(self):
        """fast-reid's hooks around a PluginCheckpointer, swapped in before the checkpoint hook takes it."""
        old = self.checkpointer
        self.checkpointer = PluginCheckpointer(old.model, old.save_dir, save_to_disk=old.save_to_disk,
                                               **old.checkpointables)  # fmt: skip
        return super().build_hooks()

"""A fast-reid ``DatasetEvaluator`` that runs the published protocols of the core (core.evaluation.protocols, the
code the torchreid host runs): SYSU-MM01 all / indoor search over gallery trials, RegDB in both directions, NIR-VIS
faces. fast-reid's ReidEvaluator scores Market's rule (same identity and camera dropped), which is not SYSU-MM01's.

fast-reid gets a flat ``{"<protocol>/<metric>": value}`` plus ``metric`` = (rank-1 + mAP) / 2 of the first
protocol, what its best-model checkpoint reads; the full figures, per trial, go to ``<OUTPUT_DIR>/results.json``.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from fastreid.evaluation import DatasetEvaluator
from fastreid.utils import comm

from toplight_plugin.core.evaluation.protocols import ProtocolOptions, RecordImages, evaluate_dataset

RANKS = (1, 5, 10, 20)


def _paths(loader) -> list[str]:
    """The image paths a core protocol asks features for, in its order: records of the SYSU-MM01 gallery
    candidates, or the items of a query / gallery part."""
    inner = loader.dataset
    return [r.path for r in inner.records] if isinstance(inner, RecordImages) else [item[0] for item in inner.data]


def _part(items) -> SimpleNamespace:
    """A test part in the shape the core protocol reads it (``loader.dataset.data``)."""
    return SimpleNamespace(dataset=SimpleNamespace(data=items))


class VIEvaluator(DatasetEvaluator):
    def __init__(self, dataset, options: ProtocolOptions, output_dir: str = ""):
        self.dataset, self.options, self.output_dir = dataset, options, output_dir
        self.results: dict = {}
        self.reset()

    def reset(self):
        self._paths, self._features, self._pids, self._camids = [], [], [], []

    def process(self, inputs, outputs):
        self._paths += list(inputs["img_paths"])
        self._features.append(outputs.float().cpu())
        self._pids.append(inputs["targets"].cpu())
        self._camids.append(inputs["camids"].cpu())

    def _gathered(self):
        parts = (self._paths, self._features, self._pids, self._camids)
        if comm.get_world_size() == 1:
            return parts
        gathered = [comm.gather(part) for part in parts]
        return [sum(lists, []) for lists in gathered] if comm.is_main_process() else None

    def evaluate(self):
        gathered = self._gathered()
        if gathered is None:
            return {}
        paths, features, pids, camids = gathered
        features, pids, camids = torch.cat(features), torch.cat(pids).numpy(), torch.cat(camids).numpy()
        row = {path: i for i, path in enumerate(paths)}

        def extract(loader):
            rows = np.array([row[path] for path in _paths(loader)])
            return features[rows], pids[rows], camids[rows]

        query, gallery = _part(self.dataset.query), _part(self.dataset.gallery)
        self.results = evaluate_dataset(self.dataset, query, gallery, extract, None, self.options, ranks=RANKS)
        self._write()
        flat = OrderedDict()
        for protocol, summary in self.results.items():
            print(f"{protocol}: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items() if k != "trials"))
            flat.update({f"{protocol}/{k}": float(v) for k, v in summary.items() if k != "trials"})
        first = next(iter(self.results.values()))
        flat["metric"] = (first["rank1"] + first.get("mAP", first["rank1"])) / 2
        return flat

    def _write(self) -> None:
        """Merged into ``results.json`` (the figures of another test set stay), written atomically."""
        if not self.output_dir:
            return
        path = Path(self.output_dir) / "results.json"
        results = json.loads(path.read_text()) if path.is_file() else {}
        results.update(self.results)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".json.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(results, indent=2))
        temporary.replace(path)

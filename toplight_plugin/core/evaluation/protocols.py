"""The published test protocols run on a trained model: SYSU-MM01 (all / indoor search over gallery trials), RegDB
(visible -> infrared and back) and NIR-VIS faces. Results are plain Python floats in percent, as in the paper.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from toplight_plugin.core.data import sysu_mm01
from toplight_plugin.core.data.images import read_image
from toplight_plugin.core.evaluation.distances import ROUNDING, FeatureDistances, largest_spread
from toplight_plugin.core.evaluation.face import evaluate_face
from toplight_plugin.core.evaluation.metrics import evaluate_regdb, evaluate_sysu
from toplight_plugin.core.evaluation.visrank import VisRank

RANKS = (1, 10, 20)  # the paper's columns; a host's own ranks are added to them


@dataclass(frozen=True)
class ProtocolOptions:
    sysu_modes: tuple[str, ...] = ("all", "indoor")
    trials: int = 10
    shots: int = 1
    rand_perm: str = ""

    def __post_init__(self):
        """Checked when the engine is built, not at the first evaluation after hours of training."""
        modes = tuple(sysu_mm01.GALLERY_CAMS)
        if not self.sysu_modes or any(mode not in modes for mode in self.sysu_modes):
            raise ValueError(f"toplight.sysu_mode: expected a non-empty list of {modes}, got {list(self.sysu_modes)}")
        if self.trials < 1:
            raise ValueError(f"toplight.trials must be at least 1, got {self.trials}")
        if self.shots not in (1, sysu_mm01.MULTI_SHOT):
            raise ValueError(f"toplight.shots must be 1 or {sysu_mm01.MULTI_SHOT}, got {self.shots}")


class RecordImages(torch.utils.data.Dataset):
    """Images of parser records with the host's test transform, in the item format of the dataset adapters."""

    def __init__(self, records, transform):
        self.records, self.transform = records, transform

    def __len__(self):
        return len(self.records)

    def __getitem__(self, index):
        r = self.records[index]
        return {"img": self.transform(read_image(r.path)), "pid": r.pid, "camid": r.camid, "modality": r.modality}


def _summary(results: list[dict], ranks) -> dict:
    """Mean over trials of the paper's columns, in percent, plus the per-trial rows. A rank beyond the gallery reads
    the last CMC value: every identity is found by then."""
    rows = [
        {
            **{f"rank{k}": 100 * float(r["cmc"][min(k, len(r["cmc"])) - 1]) for k in ranks},
            "mAP": 100 * r["mAP"],
            "mINP": 100 * r["mINP"],
        }
        for r in results
    ]
    mean = {key: float(np.mean([row[key] for row in rows])) for key in rows[0]}
    return {**mean, "trials": rows}


def refuse_ties(q_feat, g_feat, name: str) -> None:
    """A feature set that ties everything has no ranking to measure (an all-black dataset scored 100 %): an error.
    Features whose distances differ only by float32 rounding (a barely trained network whose BatchNorm statistics
    still sit at their initial values) rank by noise: said on the console and as a warning. Identical gallery
    features are a tie whatever the matrix product's rounding makes of their distances."""
    spread = largest_spread(FeatureDistances(q_feat, g_feat))  # one pass over the distances
    gallery = torch.as_tensor(g_feat)
    if spread == 0 or bool((gallery == gallery[:1]).all()):
        raise FloatingPointError(
            f"{name}: every query is at the same distance from every gallery image (the features do not differ); "
            "rank-1 and mAP would only reflect the gallery's order. The model has collapsed or the images are blank."
        )
    if spread <= ROUNDING:
        message = (f"{name}: the gallery distances of every query differ by less than {ROUNDING:g} (float32 "
                   "rounding): the features barely differ, so the figures below rank by rounding noise")  # fmt: skip
        print(f"** {message}")
        warnings.warn(message, stacklevel=2)


def evaluate_dataset(
    dataset,
    query_loader,
    gallery_loader,
    extract: Callable,
    transform,
    options: ProtocolOptions,
    batch_size: int = 128,
    ranks=RANKS,
    visrank: VisRank | None = None,
    alternatives: dict[str, Callable] | None = None,
    workers: int = 0,
) -> dict:
    """``{protocol name: summary}`` for the dataset behind ``query_loader`` (one of the plugin's adapters).

    ``extract(loader)`` returns (features, pids, camids) of a loader of adapter items. ``visrank`` draws the ranked
    lists of the first protocol's first gallery trial. ``alternatives`` maps a label to another distance
    (``f(query, gallery)`` -> matrix): each protocol is also run on it, as ``<protocol><label>``, after its own.
    ``workers``: the decoding processes of the gallery loader built here (the query loader's, as a rule).
    """
    measures = {"": FeatureDistances, **(alternatives or {})}
    protocol = getattr(dataset, "protocol", "")
    ranks = sorted({*RANKS, *ranks})
    max_rank = max(ranks)
    query_paths = [item[0] for item in query_loader.dataset.data] if visrank is not None else []
    q_feat, q_pids, q_camids = extract(query_loader)
    if protocol == "sysu":
        # The all-search candidates include the indoor ones: one extraction serves every mode and trial.
        candidates = sysu_mm01.gallery_candidates(dataset.dataset_root)
        loader = torch.utils.data.DataLoader(RecordImages(candidates, transform), batch_size=batch_size,
                                             num_workers=workers, pin_memory=torch.cuda.is_available())  # fmt: skip
        g_feat, g_pids, g_camids = extract(loader)
        refuse_ties(q_feat, g_feat, type(dataset).__name__)
        index = {r.path: i for i, r in enumerate(candidates)}
        out = {}
        for mode in options.sysu_modes:
            results = {label: [] for label in measures}
            for trial in range(options.trials):
                paths = sysu_mm01.sample_gallery(
                    dataset.dataset_root, mode, trial, options.shots, options.rand_perm or None
                )
                pick = np.array([index[p] for p in paths])
                for label, measure in measures.items():
                    distances = measure(q_feat, g_feat[pick])
                    results[label].append(
                        evaluate_sysu(distances, q_pids, g_pids[pick], q_camids, g_camids[pick], max_rank=max_rank)
                    )
                    if visrank is not None and not out and trial == 0 and not label:
                        dropped = (q_camids == 3)[:, None] & (g_camids[pick] == 2)[None, :]  # the cam-3 / cam-2 rule
                        visrank.draw(query_paths, q_pids, paths, g_pids[pick], distances, dropped)
            out.update({f"sysu_{mode}{label}": _summary(rows, ranks) for label, rows in results.items()})
        return out
    g_feat, g_pids, _ = extract(gallery_loader)
    refuse_ties(q_feat, g_feat, type(dataset).__name__)
    if protocol == "regdb":
        forward = dataset.direction
        backward = "i2v" if forward == "v2i" else "v2i"
        if visrank is not None:
            gallery_paths = [item[0] for item in gallery_loader.dataset.data]
            visrank.draw(query_paths, q_pids, gallery_paths, g_pids, FeatureDistances(q_feat, g_feat), None)
        out = {}
        for label, measure in measures.items():
            there = evaluate_regdb(measure(q_feat, g_feat), q_pids, g_pids, max_rank=max_rank)
            back = evaluate_regdb(measure(g_feat, q_feat), g_pids, q_pids, max_rank=max_rank)
            out[f"regdb_{forward}{label}"] = _summary([there], ranks)
            out[f"regdb_{backward}{label}"] = _summary([back], ranks)
        return out
    if protocol == "face":
        out = {}
        for label, measure in measures.items():
            face = evaluate_face(np.asarray(measure(q_feat, g_feat)[0 : len(q_feat)]), q_pids, g_pids)
            out[type(dataset).__name__.lower() + label] = {
                "rank1": 100 * face["rank1"],
                **{f"vr@far{far:g}": 100 * v for far, v in face["vr"].items()},
            }
        return out
    raise ValueError(f"{type(dataset).__name__} is not one of the plugin's datasets; no VI protocol to run")

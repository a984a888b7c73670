"""torchreid's ``_evaluate`` on a plugin dataset: the published protocol (core.evaluation.protocols), its figures
printed, logged to TensorBoard and written to ``results.json``, and torchreid's own result block and distance
options beside them."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

from toplight_plugin.core.evaluation.protocols import ProtocolOptions, evaluate_dataset
from toplight_plugin.core.evaluation.visrank import VisRank
from toplight_plugin.core.training import distributed
from toplight_plugin.hosts.torchreid.distance_options import TorchreidDistance


def torchreid_block(protocol: str, summary: dict, ranks) -> str:
    """torchreid's result block (what its ``tools/parse_test_res.py`` reads from a log) for one protocol."""
    trials = len(summary.get("trials", [None]))
    lines = [f"** Results ** ({protocol}" + (f", mean of {trials} gallery trials)" if trials > 1 else ")")]
    if "mAP" in summary:
        lines += [f"mAP: {summary['mAP']:.1f}%"]
    lines += ["CMC curve"] + [f"Rank-{k:<3}: {summary[f'rank{k}']:.1f}%" for k in ranks if f"rank{k}" in summary]
    return "\n".join(lines)


def evaluate_published(
    engine, extract: Callable, query_loader, gallery_loader, save_dir="", ranks=(1, 5, 10, 20), visrank=False,
    visrank_topk=10, dataset_name="", **unused,
) -> tuple[float, float]:  # fmt: skip
    """What a torchreid engine's ``_evaluate`` does on a plugin dataset: the published protocol, its figures printed
    (one line per protocol, then torchreid's result block of the first one), logged as ``Test/<protocol>/<metric>``
    and written to ``<save_dir>/results.json``. Returns the first protocol's rank-1 and mAP, as torchreid expects.

    ``engine.protocol`` (ProtocolOptions) is used when the engine has one, the published defaults otherwise.
    torchreid's distance options (``dist_metric``, ``normalize_feature``, ``rerank``), when not torchreid's
    defaults, add each protocol's figures on that distance, labelled as not the protocol (distance_options.py).
    """
    save_dir = Path(save_dir or getattr(engine, "save_dir", "") or ".")
    option = TorchreidDistance(unused.get("dist_metric", "euclidean"), bool(unused.get("normalize_feature")),
                               bool(unused.get("rerank")))  # fmt: skip
    alternatives = {option.label: option} if option.requested else {}
    if option.requested:
        print(f"torchreid's test options give the figures marked{option.label}; the published protocol's (cosine "
              "distance) come first")  # fmt: skip
    draw = None
    if visrank and distributed.is_main():
        manager = engine.datamanager
        draw = VisRank(save_dir / f"visrank_{dataset_name}", visrank_topk, manager.height, manager.width)
    results = evaluate_dataset(
        query_loader.dataset,
        query_loader,
        gallery_loader,
        extract,
        engine.datamanager.transform_te,
        getattr(engine, "protocol", None) or ProtocolOptions(),
        batch_size=query_loader.batch_size,
        ranks=ranks,
        visrank=draw,
        alternatives=alternatives,
        workers=query_loader.num_workers,
    )
    engine.last_results = {**getattr(engine, "last_results", {}), **results}
    first_name, first = next(iter(results.items()))
    if not distributed.is_main():
        return float(first["rank1"]), 0.0
    save_dir.mkdir(parents=True, exist_ok=True)
    (save_dir / "results.json").write_text(json.dumps(engine.last_results, indent=2))
    for protocol, summary in results.items():
        print(f"{protocol}: " + ", ".join(f"{k} {v:.2f}" for k, v in summary.items() if k != "trials"))
        if engine.writer is not None:
            for key, value in summary.items():
                if key != "trials":
                    tag = re.sub(r"[^\w.-]+", "_", protocol).strip("_")  # TensorBoard's tag characters
                    engine.writer.add_scalar(f"Test/{tag}/{key}", value, engine.epoch)
    print(torchreid_block(first_name, first, ranks))
    return float(first["rank1"]), float(first.get("mAP", 0.0))

"""Train and test one model per split and report each split with the mean ± std, as RegDB results are published
(the mean over its 10 trials, each trial tested with the model trained on it, both directions).

    toplight-splits --config-file regdb/mbv3l_top_fdr data.root /path/to/datasets
    toplight-splits --config-file regdb/mbv3l_top_fdr --test-only      # test the checkpoints already there

Split k (``data.split_id`` k: RegDB trial k + 1, SYSU-MM01 gallery trial k) trains in ``<data.save_dir>/split-<k>``
with its own ``train.log-*`` / ``test.log-*`` (torchreid's ``tools/parse_test_res.py <data.save_dir>`` reads them
too). The table goes to the console and to ``<data.save_dir>/splits.md``, the numbers to ``splits.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from toplight_plugin.cli.overrides import add_overrides, parse
from toplight_plugin.cli.train import run, session
from toplight_plugin.core.training import checkpoint
from toplight_plugin.core.training.config import load_config

COLUMNS = ("rank1", "rank10", "rank20", "mAP", "mINP")


def split_ids(text: str) -> list[int]:
    """An argparse type: comma-separated split ids of at least 0."""
    ids = [int(part) for part in text.split(",")]
    if any(k < 0 for k in ids) or len(set(ids)) != len(ids):
        raise argparse.ArgumentTypeError(f"expected distinct split ids of at least 0, got {text}")
    return ids


def table(per_split: dict[int, dict]) -> str:
    """Markdown: per protocol, one row per split, then mean ± std (population std over the splits)."""
    lines = []
    for protocol in next(iter(per_split.values())):
        lines += [f"\n{protocol}\n", "| split | " + " | ".join(COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
        rows = {k: [results[protocol][c] for c in COLUMNS] for k, results in per_split.items()}
        lines += [f"| {k} | " + " | ".join(f"{v:.2f}" for v in row) + " |" for k, row in rows.items()]
        values = np.array(list(rows.values()))
        spread = zip(values.mean(0), values.std(0), strict=True)
        lines.append("| mean ± std | " + " | ".join(f"{m:.2f} ± {s:.2f}" for m, s in spread) + " |")
    return "\n".join(lines).strip()


def main(argv: list[str] | None = None) -> dict[int, dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", required=True, help="a config path or shipped name")
    parser.add_argument("--splits", type=split_ids, default=list(range(10)), help="data.split_id values, e.g. 0,3")
    parser.add_argument("--test-only", action="store_true", help="test <save_dir>/split-<k>/last.pth, train nothing")
    parser.add_argument("--overwrite", action="store_true", help="train afresh over the splits already trained there")
    add_overrides(parser, "data.height 256 (for every split)")
    args = parse(parser, argv)
    base = Path(load_config(args.config_file, args.opts).data.save_dir)
    per_split = {}
    for k in args.splits:
        opts = [*args.opts, "data.split_id", str(k), "data.save_dir", str(base / f"split-{k}")]
        if not args.test_only:
            cfg = load_config(args.config_file, opts)
            with session(cfg, overwrite=args.overwrite):
                run(cfg, overwrite=args.overwrite)
        cfg = load_config(args.config_file, [*opts, "test.evaluate", "True"])
        weights = checkpoint.newest(cfg.data.save_dir)
        if weights is None:
            raise FileNotFoundError(f"split {k}: no checkpoint in {cfg.data.save_dir} (train it, without --test-only)")
        with session(cfg, str(weights)):
            per_split[k] = run(cfg, str(weights)).last_results
    text = table(per_split)
    (base / "splits.md").write_text(text + "\n")
    (base / "splits.json").write_text(json.dumps({str(k): v for k, v in per_split.items()}, indent=2))
    print(text)
    print(f"written to {base / 'splits.md'} and {base / 'splits.json'}")
    return per_split

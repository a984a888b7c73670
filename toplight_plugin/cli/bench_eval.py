"""Time the plugin's evaluator against torchreid's ``evaluate_rank`` on the same random features.

Every case is measured in its own process (peak RSS = that process's maximum resident set). Distances are
−cos of L2-normalised features. Query and gallery cameras differ, so torchreid's Market rule removes nothing and
its CMC and mAP must equal ``evaluate_regdb``'s: the script checks it. At 10,000 x 100,000 torchreid would need the
4 GB matrix plus ~17 GB of sort indices and copies, so it is fed blocks of 500 queries; ``--torchreid-queries``
times it on the first N queries only and scales the time to all queries (its cost is linear in the queries).
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import resource
import time
import warnings
from pathlib import Path

import numpy as np
import torch

from toplight_plugin.core.analysis.docs import replace_section
from toplight_plugin.evaluation import FeatureDistances, evaluate_regdb, evaluate_sysu

FULL = {"sysu": (3803, 301, 96), "regdb": (2060, 2060, 206), "large": (10_000, 100_000, 10_000)}
QUICK = {"sysu": (380, 30, 10), "regdb": (206, 206, 20), "large": (500, 5_000, 500)}
DIM = 256
TORCHREID_BLOCK = 500


def make_case(num_q: int, num_g: int, num_ids: int, seed: int = 0):
    """Identity-clustered features: every identity has a centre, images are centre + noise."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((num_ids, DIM)).astype(np.float32)
    g_pids = np.arange(num_g) % num_ids
    q_pids = rng.integers(0, num_ids, num_q)
    g_feat = centres[g_pids] + 1.5 * rng.standard_normal((num_g, DIM), dtype=np.float32)
    q_feat = centres[q_pids] + 1.5 * rng.standard_normal((num_q, DIM), dtype=np.float32)
    return q_feat, g_feat, q_pids, g_pids


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _ours(case: tuple, queries: int | None) -> dict:
    q_feat, g_feat, q_pids, g_pids = make_case(*case)
    q_feat, q_pids = q_feat[:queries], q_pids[:queries]
    before = _rss_mb()
    start = time.perf_counter()
    result = evaluate_regdb(FeatureDistances(q_feat, g_feat), q_pids, g_pids)
    return {"seconds": time.perf_counter() - start, "result": result, "rss_before": before, "rss": _rss_mb()}


def _torchreid(case: tuple, queries: int | None) -> dict:
    from toplight_plugin.hosts.torchreid import compat

    evaluate_rank = compat.torchreid().metrics.evaluate_rank
    q_feat, g_feat, q_pids, g_pids = make_case(*case)
    q_feat, q_pids = q_feat[:queries], q_pids[:queries]
    distances = FeatureDistances(q_feat, g_feat)
    before = _rss_mb()
    cmc_sum, ap_sum, valid, seconds = 0.0, 0.0, 0, 0.0
    for lo in range(0, len(q_pids), TORCHREID_BLOCK):
        rows = slice(lo, lo + TORCHREID_BLOCK)
        block = distances[rows]  # computed outside the timed call
        n_valid = int(np.isin(q_pids[rows], g_pids).sum())
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            cmc, m_ap = evaluate_rank(
                block,
                q_pids[rows],
                g_pids,
                np.zeros(len(block), int),
                np.ones(len(g_pids), int),
                max_rank=20,
                use_cython=False,
            )
        seconds += time.perf_counter() - start
        cmc_sum, ap_sum, valid = cmc_sum + cmc * n_valid, ap_sum + m_ap * n_valid, valid + n_valid
    result = {"cmc": cmc_sum / valid, "mAP": ap_sum / valid}
    return {"seconds": seconds, "result": result, "rss_before": before, "rss": _rss_mb()}


def _sysu_trials(case: tuple, trials: int = 10) -> dict:
    """Ten SYSU trials from features: distances + evaluate_sysu for each trial's gallery."""
    num_q, num_g, num_ids = case
    q_feat, _, q_pids, _ = make_case(num_q, num_g, num_ids)
    rng = np.random.default_rng(1)
    q_cams = rng.choice([3, 6], num_q)
    galleries = [make_case(1, num_g, num_ids, seed=10 + t)[1:4:2] for t in range(trials)]
    cams = [rng.choice([1, 2, 4, 5], num_g) for _ in range(trials)]
    start = time.perf_counter()
    for (g_feat, g_pids), g_cams in zip(galleries, cams, strict=True):
        evaluate_sysu(FeatureDistances(q_feat, g_feat), q_pids, g_pids, q_cams, g_cams)
    return {"seconds": time.perf_counter() - start, "rss": _rss_mb()}


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _in_child(fn, *args, isolate: bool = True) -> dict:
    if not isolate:
        return fn(*args)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(fn, args)


def _repeat(fn, args, repeats: int, isolate: bool) -> dict:
    runs = [_in_child(fn, *args, isolate=isolate) for _ in range(repeats)]
    best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
    return {**best, "rss": max(r["rss"] for r in runs)}


def run(sizes: dict, torchreid_queries: int | None, repeats: int, isolate: bool = True) -> tuple[str, bool]:
    """The markdown table and whether every comparison agreed; ``isolate`` runs each measurement in a new process."""
    rows, agree_all = [], True
    for name, case in sizes.items():
        num_q = case[0]
        limit = torchreid_queries if name == "large" and torchreid_queries else None
        times = repeats if name != "large" else 1
        ours = _repeat(_ours, (case, None), times, isolate)
        theirs = _repeat(_torchreid, (case, limit), times, isolate)
        same_rows = ours if limit is None else _in_child(_ours, case, limit, isolate=isolate)
        agree = bool(
            np.allclose(same_rows["result"]["cmc"], theirs["result"]["cmc"], rtol=1e-5)
            and np.isclose(same_rows["result"]["mAP"], theirs["result"]["mAP"], rtol=1e-9)
        )
        agree_all &= agree
        scale = num_q / limit if limit else 1.0
        their_seconds = theirs["seconds"] * scale
        note = f" (measured on {limit:,} queries, x{scale:g})" if limit else ""
        rows.append(
            f"| {num_q:,} x {case[1]:,} | {ours['seconds']:.3f} s | {ours['rss']:,.0f} MB "
            f"({ours['rss_before']:,.0f} before) | {their_seconds:.2f} s{note} | {theirs['rss']:,.0f} MB | "
            f"{their_seconds / ours['seconds']:.0f}x | {'yes' if agree else 'NO'} |"
        )
        print(rows[-1], flush=True)
    trials = _repeat(_sysu_trials, (sizes["sysu"],), repeats, isolate)
    header = (
        f"CPU: {_cpu_name()}, {torch.get_num_threads()} torch threads, "
        f"numpy {np.__version__}, torch {torch.__version__}; features {DIM}-d float32; median of {repeats} "
        "runs except the largest size (one run).\n\n"
        "| queries x gallery | ours | ours peak RSS | torchreid `evaluate_rank` | torchreid peak RSS | speed-up | "
        "CMC & mAP agree |\n|---|---|---|---|---|---|---|\n"
    )
    footer = (
        f"\nSYSU-MM01 size, 10 trials ({sizes['sysu'][0]:,} queries x {sizes['sysu'][1]:,} gallery each, "
        f"distances + `evaluate_sysu`): {trials['seconds']:.3f} s.\n"
    )
    return header + "\n".join(rows) + "\n" + footer, agree_all


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes in this process (seconds): a smoke run")
    parser.add_argument("--torchreid-queries", type=int, default=1000, help="queries torchreid is timed on at 10k")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--write", type=Path, default=None, help="markdown file whose 'eval' section is replaced")
    args = parser.parse_args(argv)
    table, agree = run(QUICK if args.quick else FULL, args.torchreid_queries, args.repeats, isolate=not args.quick)
    print(table)
    if args.write is not None:
        replace_section(args.write, "eval", table)
        print(f"written to {args.write}")
    if not agree:
        raise SystemExit("results differ from torchreid's where the protocols coincide")
    return table


if __name__ == "__main__":
    main()

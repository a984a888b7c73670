"""Does a deployed graph keep the accuracy? SYSU-MM01 all-search or RegDB visible to infrared on held-out identities
through exported graphs.

    toplight-deploy-eval --sysu data/synthetic/SYSU-MM01 --reference visible.onnx infrared.onnx \\
        --candidate visible_int8.onnx infrared_int8.onnx --runs onnxruntime:fp32 openvino:fp32 openvino:bf16
    toplight-deploy-eval --regdb data/synthetic/RegDB --regdb-trial 1 --reference visible.onnx infrared.onnx \\
        --candidate visible_int8.onnx infrared_int8.onnx

``--sysu`` runs SYSU-MM01 all-search (infrared queries against ``--trials`` single-shot visible galleries);
``--regdb`` runs RegDB visible to infrared on the test split of ``--regdb-trial``, the trial the model was trained on
(another trial's test identities were training ones). The reference (one graph for both modalities, or a visible and
an infrared one) runs in onnxruntime at float32. Every candidate runs in each ``--runs`` RUNTIME:PRECISION; the
float32 graphs themselves can be a candidate (to measure a runtime or BF16). Each row: rank-1 and mAP (%), their
change from the reference, and the cosine between the candidate's and the reference's features of the same images
(mean and least), with the precision that ran. ``--write`` puts the table between
``<!-- deploy-accuracy:begin/end -->`` (SYSU-MM01) or ``<!-- deploy-accuracy-regdb:begin/end -->`` (RegDB).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from toplight_plugin.core.analysis.docs import publish
from toplight_plugin.core.deploy.accuracy import TestSet, compare, embed, scores
from toplight_plugin.core.deploy.embedder import graph_embedders
from toplight_plugin.core.deploy.runtime import PRECISIONS, RUNTIMES


def runtime_precision(text: str) -> tuple[str, str]:
    """An argparse type: RUNTIME:PRECISION, e.g. openvino:bf16."""
    runtime, _, precision = text.partition(":")
    if runtime not in RUNTIMES or precision not in PRECISIONS:
        raise argparse.ArgumentTypeError(f"expected RUNTIME:PRECISION with RUNTIME in {RUNTIMES} and PRECISION in "
                                         f"{PRECISIONS}, got {text!r}")  # fmt: skip
    return runtime, precision


def graphs(paths: list[str], option: str) -> list[str]:
    if len(paths) > 2:
        raise ValueError(f"{option}: expected one graph or two (visible and infrared), got {len(paths)}")
    return paths


def to_markdown(rows: list[dict], protocol: str) -> str:
    lines = [f"{protocol}; cosine to the reference's features of the same images (queries and gallery).", "",
             "| graphs | runtime | ran | rank-1 | mAP | Δ rank-1 | Δ mAP | mean cosine | least cosine |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {' + '.join(Path(g).name for g in row['graphs'])} | {row['runtime']} | {row['ran']} | "
                     f"{row['rank1']:.1f} | {row['mAP']:.1f} | {row['d_rank1']:+.1f} | {row['d_mAP']:+.1f} | "
                     f"{row['cosine_mean']:.5f} | {row['cosine_min']:.5f} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sysu", type=Path, help="a SYSU-MM01 folder: all-search on its test identities")
    parser.add_argument("--regdb", type=Path, help="a RegDB folder: visible to infrared on a trial's test split")
    parser.add_argument("--regdb-trial", type=int, help="RegDB's trial (split, 1-10) the model was trained on; "
                        "default 1")  # fmt: skip
    parser.add_argument("--reference", required=True, nargs="+", help="the float32 graph(s), run by onnxruntime")
    parser.add_argument("--candidate", action="append", nargs="+", default=[], help="graph(s) to compare; repeat")
    parser.add_argument("--runs", nargs="+", type=runtime_precision, default=[("onnxruntime", "fp32")],
                        metavar="RUNTIME:PRECISION", help="what runs each candidate (default onnxruntime:fp32)")
    parser.add_argument("--trials", type=int, help="SYSU-MM01's single-shot gallery trials (default 10)")
    parser.add_argument("--threads", type=int, default=0, help="runtime threads (0: the runtime's default)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument("--write", type=Path, help="markdown file with <!-- deploy-accuracy:begin/end --> markers "
                        "(RegDB: deploy-accuracy-regdb)")  # fmt: skip
    args = parser.parse_args(argv)
    if (args.sysu is None) == (args.regdb is None):
        raise ValueError("give exactly one test set: --sysu DIR (SYSU-MM01 all-search) or --regdb DIR (RegDB visible "
                         "to infrared)")  # fmt: skip
    if args.sysu and args.regdb_trial is not None:
        raise ValueError("--regdb-trial is RegDB's split; SYSU-MM01 takes --trials (its gallery trials)")
    if args.regdb and args.trials is not None:
        raise ValueError("--trials is SYSU-MM01's gallery trials; RegDB's gallery is its whole test split (choose "
                         "the split with --regdb-trial)")  # fmt: skip
    trials = 10 if args.trials is None else args.trials
    if trials < 1:
        raise ValueError(f"--trials must be at least 1, got {trials}")
    test = TestSet.sysu(args.sysu) if args.sysu else TestSet.regdb(args.regdb, args.regdb_trial or 1)
    reference_graphs = graphs(args.reference, "--reference")
    reference = embed(test, graph_embedders(reference_graphs, args.threads))
    rows = [{"graphs": reference_graphs, "runtime": "onnxruntime", "ran": "fp32", **scores(test, reference,
             trials), "d_rank1": 0.0, "d_mAP": 0.0, "cosine_mean": 1.0, "cosine_min": 1.0}]  # fmt: skip
    for candidate in args.candidate:
        candidate = graphs(candidate, "--candidate")
        for runtime, precision in args.runs:
            embedders = graph_embedders(candidate, args.threads, runtime, precision)
            ran = " / ".join(sorted({e.session.ran for e in embedders.values()}))
            figures = compare(test, embed(test, embedders), reference, trials)
            rows.append({"graphs": candidate, "runtime": runtime, "ran": ran, **figures})
    section = "deploy-accuracy" if args.sysu else "deploy-accuracy-regdb"
    publish(to_markdown(rows, test.describe(trials)), rows, args.json, args.write, section, indent=1)
    return rows


if __name__ == "__main__":
    main()

"""Search a gallery of one modality with images of the other: ranked results as a PNG grid and as JSON.

    toplight-search --gallery data/gallery_visible --query night/ --onnx model.onnx --output output/search
    toplight-search --gallery ... --query ... --onnx visible_int8.onnx infrared_int8.onnx --runtime openvino
    toplight-search --gallery ... --query ... --config-file configs/sysu/mbv3l_top_fdr.yaml --weights last.pth

Each row of ``results.png`` is a query followed by its top-k gallery images with their distances
(1 - cosine similarity); when identities are known from the folders (``<id>/<image>``), correct matches are
framed green and wrong ones red. ``results.json`` holds the same lists. The gallery is visible and the queries
infrared unless ``--gallery-modality`` says otherwise. ``--onnx`` takes one graph exported for both modalities or one
per modality, run by onnxruntime or OpenVINO (``--runtime``) at ``--precision`` (bf16: OpenVINO only); the line
it prints names the precision that ran. As evaluation does, it warns when the model has random weights,
when the distances tie, and when images searched as infrared have colour; ``--output`` may not be a training or test
run's folder, whose results.json it would replace.
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

from tqdm import tqdm

from toplight_plugin.cli.figures import plt, save_png
from toplight_plugin.cli.model_args import add_model_arguments, model_from_args
from toplight_plugin.cli.overrides import parse
from toplight_plugin.core.data.images import list_images, read_image
from toplight_plugin.core.deploy.embedder import TorchEmbedder, graph_embedders
from toplight_plugin.core.deploy.runtime import PRECISIONS, RUNTIMES, default_runtime
from toplight_plugin.core.deploy.search import GalleryIndex, Ranking, rank, tie_warning
from toplight_plugin.core.models.dual_path import INFRARED, VISIBLE
from toplight_plugin.core.training.run_folder import refuse_run_folder

MODALITIES = {"visible": VISIBLE, "infrared": INFRARED}


def plot_rankings(rankings: list[Ranking], output: Path, query_modality: str) -> Path:
    """Rows of query + top-k thumbnails; green / red frames for right / wrong identities when known."""
    columns = 1 + max(len(r.gallery) for r in rankings)
    figure, axes = plt.subplots(len(rankings), columns, figsize=(1.3 * columns, 2.6 * len(rankings)), squeeze=False)
    for row, ranking in zip(axes, rankings, strict=True):
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_frame_on(False)
        row[0].imshow(read_image(str(ranking.query)))
        row[0].set_title(f"query ({query_modality})" + (f"\nid {ranking.query_identity}" if ranking.query_identity
                                                          else ""), fontsize=8)  # fmt: skip
        matches = ranking.matches
        for i, (path, distance) in enumerate(zip(ranking.gallery, ranking.distances, strict=True)):
            ax = row[i + 1]
            ax.imshow(read_image(str(path)))
            label = f"{i + 1}: d={distance:.3f}"
            if ranking.identities is not None:
                label += f"\nid {ranking.identities[i]}"
            ax.set_title(label, fontsize=7)
            if matches is not None:
                ax.set_frame_on(True)
                for spine in ax.spines.values():
                    spine.set_edgecolor("tab:green" if matches[i] else "tab:red")
                    spine.set_linewidth(3)
    return save_png(figure, output)


def caution(message: str) -> None:
    """A warning about the results, as evaluation gives them: on the console and as a Python warning."""
    print(f"** {message}")
    warnings.warn(message, stacklevel=2)


def positive(text: str) -> int:
    """An argparse type: an integer of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> list[Ranking]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gallery", required=True, nargs="+", help="gallery image folders (searched recursively)")
    parser.add_argument("--query", required=True, nargs="+", help="query image files or folders")
    parser.add_argument("--gallery-modality", choices=sorted(MODALITIES), default="visible")
    parser.add_argument("--top-k", type=positive, default=10)
    parser.add_argument("--onnx", nargs="+", default=[], help="exported graphs (toplight-export) instead of a "
                        "checkpoint: one for both modalities, or a visible and an infrared one")  # fmt: skip
    parser.add_argument("--runtime", choices=("auto", *RUNTIMES), default="auto",
                        help="what runs the --onnx graphs (auto: OpenVINO for INT8 files, else onnxruntime)")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32", help="of the graphs' float operators")
    parser.add_argument("--batch-size", type=positive, default=32)
    parser.add_argument("--output", type=Path, default=Path("output/search"), help="folder for results.png/.json")
    add_model_arguments(parser)
    args = parse(parser, argv)
    refuse_run_folder(args.output, "results.json and results.png")
    if args.onnx:
        if len(args.onnx) > 2:
            raise ValueError(f"--onnx: expected one graph or two (visible and infrared), got {len(args.onnx)}")
        if args.runtime == "auto":
            args.runtime = default_runtime(args.onnx)
        embedders = graph_embedders(args.onnx, runtime=args.runtime, precision=args.precision)
        for embedder in {id(e): e for e in embedders.values()}.values():
            print(f"{embedder.path}: {embedder.metadata.get('modality')} graph, {embedder.session.ran} on "
                  f"{args.runtime}")  # fmt: skip
            if embedder.metadata.get("weights") == "":
                caution(f"{embedder.path} was exported without weights (its metadata names none): the ranking is "
                        "that of a random network; export the trained checkpoint with toplight-export --weights")
    else:
        model, cfg = model_from_args(args)
        embedder = TorchEmbedder(model, cfg.data.height, cfg.data.width, cfg.data.norm_mean, cfg.data.norm_std)
        embedders = {VISIBLE: embedder, INFRARED: embedder}
        if not (args.weights or cfg.model.load_weights):
            caution("no --weights: the model has random weights, so the ranking means nothing; give the trained "
                    "checkpoint with --weights")  # fmt: skip
    gallery_modality = MODALITIES[args.gallery_modality]
    query_modality = next(name for name, code in MODALITIES.items() if code != gallery_modality)
    gallery = [p for source in args.gallery for p in list_images(source)]
    queries = [p for source in args.query for p in list_images(source)]
    coloured = []
    with tqdm(total=len(gallery), desc="indexing gallery", unit="img") as bar:
        gallery_features = embedders[gallery_modality].embed_files(gallery, gallery_modality, args.batch_size, bar,
                                                                   coloured)  # fmt: skip
    query_code = MODALITIES[query_modality]
    query_features = embedders[query_code].embed_files(queries, query_code, args.batch_size, coloured=coloured)
    if coloured:
        caution(f"{len(coloured)} image(s) searched as infrared have colour (their channels differ), e.g. "
                f"{coloured[0]}: a visible image through the infrared stem ranks wrongly; check --gallery-modality "
                "and the folders given")  # fmt: skip
    ties = tie_warning(query_features, gallery_features)
    if ties:
        caution(ties)
    rankings = rank(queries, query_features, gallery, GalleryIndex(gallery_features), args.top_k)
    args.output.mkdir(parents=True, exist_ok=True)
    (args.output / "results.json").write_text(json.dumps([r.to_json() for r in rankings], indent=1))
    plot_rankings(rankings, args.output / "results.png", query_modality)
    judged = [r.matches[0] for r in rankings if r.matches is not None]
    summary = f", rank-1 correct for {sum(judged)} of {len(judged)}" if judged else ""
    print(f"{len(queries)} queries against {len(gallery)} gallery images{summary}; written to {args.output}")
    return rankings


if __name__ == "__main__":
    main()

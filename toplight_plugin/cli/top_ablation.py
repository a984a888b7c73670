"""Table 3's TOP ablation on synthetic data, paired over seeds: standard pretraining (SP) vs SP + TOP.

    toplight-top-ablation [--seeds 1 2 3] [--colours typical random] [--work output/top_ablation] [budget options]

For each seed: a VI set of distinct people (``--vi-ids`` training identities, ``--test-ids`` held out) and, for each
corpus kind, a corpus of other distinct people (``--corpus-classes`` x ``--corpus-images`` visible images;
``typical``: each class keeps a palette, ``random``: colours drawn per image) with its "ImageNet-mini" (the first
``--mini-images`` of each class). Stages, each cached in its folder under ``--work``, resumed when cut short and
reused only with the options it recorded (a config file edited since is not seen: delete the folder): SP on the
corpus (configs/pretrain/synthetic_sp.yaml); from its weights, on the mini corpus, C (generic augmentations, plain
L_id: row 2), D (task-oriented augmentations, L_idc: row 4) and B (full TOP, L_idc + L_fd: row 5), each with its
soup (configs/pretrain/synthetic_top.yaml); then VI training with one recipe (configs/synthetic/mbv3s_baseline.yaml)
from random weights (E), from SP (A) and from each soup, for ``--vi-epochs`` and for ``--short-epochs``, tested with
the SYSU-MM01 protocol on the held-out identities; each start is also tested as it is (``zero_shot_`` figures). The
arms run in the order E, A, B, D, C, each start made just before its VI stages. ``--arms`` runs some of C, D, B
only; ``--variant NAME KEY VALUE ...`` adds an arm: B with other TOP options. Writes
``top_ablation[_general][_NAME].json`` ({arm: {seed: figures}}) and a picture of every seed's rank-1 per arm
(``top_ablation[_NAME].png`` for both corpora, named as its JSON for one).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
from pathlib import Path

import yaml

from toplight_plugin.cli import pretrain_top
from toplight_plugin.cli import test as test_tool
from toplight_plugin.cli import train as train_tool
from toplight_plugin.cli.ablation_report import ARMS, report
from toplight_plugin.core.data.synthetic import make_sysu
from toplight_plugin.core.data.synthetic_corpus import make_corpus, split_people, subset

TOP_ARMS = {
    "C_sp_generic": ["top.task_augs", "False", "top.identity", "id", "top.fake_domain", "False"],
    "D_sp_idc": ["top.fake_domain", "False"],
    "B_sp_top": [],
}
FIGURES = "figures.json"
JSON_NAMES = {"typical": "top_ablation", "random": "top_ablation_general"}


def _built(folder: Path, make) -> Path:
    """``make(tmp)`` into a temporary folder renamed into place: a folder that exists is complete."""
    if not folder.is_dir():
        partial = folder.with_name(folder.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        make(partial)
        os.replace(partial, folder)
    return folder


def _check_cached(save_dir: Path, overrides: list[str]) -> None:
    """A cached stage is reused only if its recorded config.yaml holds the options this run passes it (a stage
    cached with, say, another ``--top-epochs`` would otherwise stand in silently); ``data.save_dir`` may differ."""
    recorded = yaml.safe_load((save_dir / "config.yaml").read_text())
    for key, value in dict(zip(overrides[::2], overrides[1::2], strict=True)).items():
        section, name = key.split(".")
        wanted = yaml.safe_load(value) if value else ""
        if key != "data.save_dir" and recorded[section][name] != wanted:
            raise ValueError(f"{save_dir / 'config.yaml'}: {key} is {recorded[section][name]!r}, this run asks for "
                             f"{wanted!r}; delete the stage folder or give another --work")  # fmt: skip


def _pretrained(save_dir: Path, artefact: str, config: str, overrides: list[str]) -> Path:
    """One pretraining stage, skipped when its artefact exists, resumed from its last.pth when cut short."""
    if (save_dir / artefact).is_file():
        _check_cached(save_dir, overrides)
    else:
        pretrain_top.main(["--config-file", config, "--resume", *overrides, "data.save_dir", str(save_dir)])
    return save_dir / artefact


def _summary(results: dict) -> dict:
    """{all,indoor}_{rank1,mAP} of a SYSU-MM01 evaluation, rounded to what the tables print."""
    figures = {}
    for protocol, summary in results.items():
        mode = "all" if "all" in protocol else "indoor"
        figures |= {f"{mode}_rank1": round(summary["rank1"], 2), f"{mode}_mAP": round(summary["mAP"], 2)}
    return figures


def _cached(save_dir: Path, overrides: list[str], measure) -> dict:
    """``measure()``'s figures, cached in ``save_dir/figures.json`` (checked against ``overrides``)."""
    done = save_dir / FIGURES
    if done.is_file():
        _check_cached(save_dir, overrides)
    else:
        figures = measure()
        done.write_text(json.dumps(figures, indent=1))
    return json.loads(done.read_text())


def _vi(save_dir: Path, vi_root: Path, seed: int, epochs: int, weights: Path | None, workers: int) -> dict:
    """VI training with the recipe for ``epochs`` (milestones at 70 % and 85 %), tested at its end."""
    opts = ["data.root", str(vi_root), "train.seed", str(seed), "data.save_dir", str(save_dir),
            "data.workers", str(workers), "train.max_epoch", str(epochs), "test.eval_freq", str(epochs),
            "train.stepsize", str([max(1, round(epochs * 0.7)), max(1, round(epochs * 0.85))]),
            "toplight.warmup_epochs", str(min(3, epochs // 4)), "model.load_weights", str(weights or "")]  # fmt: skip
    return _cached(save_dir, opts, lambda: _summary(
        train_tool.main(["--config-file", "synthetic/mbv3s_baseline", "--resume", *opts]).last_results))  # fmt: skip


def _zero_shot(save_dir: Path, vi_root: Path, weights: Path, workers: int) -> dict:
    """The start itself on the held-out VI identities, before any VI training: how far its features already match
    a person across modalities, which is what TOP is meant to teach."""
    opts = ["data.root", str(vi_root), "data.save_dir", str(save_dir), "data.workers", str(workers)]
    return _cached(save_dir, opts, lambda: _summary(
        test_tool.main(["--config-file", "synthetic/mbv3s_baseline", "--weights", str(weights), *opts])))  # fmt: skip


def _top_arms(args) -> dict[str, list[str]]:
    """The TOP arms of ``--arms``, and with ``--variant NAME KEY VALUE ...`` a further one: B with those options."""
    arms = {arm: switches for arm, switches in TOP_ARMS.items() if arm in args.arms}
    if not args.variant:
        return arms
    name, *options = args.variant
    return {**arms, f"B+{name}": [*TOP_ARMS["B_sp_top"], *options]}


def _labels(args) -> dict[str, str]:
    """E, A and the arms of ``_top_arms``, each with its table label."""
    variant = f"B with {' '.join(args.variant[1:])}" if args.variant else ""
    arms = ["E_scratch", "A_sp", *_top_arms(args)]
    return {arm: ARMS.get(arm, f"{arm}: {variant}") for arm in arms}


def run_seed(args, seed: int, colours: str) -> dict[str, dict]:
    """Every stage of one seed and corpus kind; returns {arm: figures}."""
    base, work = args.work / f"seed{seed}", args.work / f"seed{seed}" / colours
    size = tuple(args.size)
    vi_people, corpus_people = split_people(seed, args.vi_ids + args.test_ids, args.corpus_classes)
    vi_root = _built(base / "vi", lambda root: make_sysu(
        root, len(vi_people), (args.vi_ids - args.vi_ids // 10, args.vi_ids // 10, args.test_ids), 4, size, seed,
        vi_people))  # fmt: skip
    corpus = _built(work / "corpus", lambda root: make_corpus(
        root, corpus_people, args.corpus_images, size, seed + 100, colours))  # fmt: skip
    mini = _built(work / "mini", lambda root: subset(corpus, root, args.mini_images))
    common = ["train.seed", str(seed), "data.workers", str(args.workers),
              "data.height", str(size[0]), "data.width", str(size[1])]  # fmt: skip
    sp = _pretrained(work / "sp", "sp.pth", "pretrain/synthetic_sp",
                     [*common, "data.root", str(corpus), "train.max_epoch", str(args.sp_epochs)])  # fmt: skip
    top_arms = _top_arms(args)

    def start_of(arm: str) -> Path | None:
        """The weights an arm's VI stages start from; a TOP arm's stage is made here, just before them."""
        if arm in ("E_scratch", "A_sp"):
            return None if arm == "E_scratch" else sp
        return _pretrained(work / arm / "top", "soup.pth", "pretrain/synthetic_top", [
            *common, "data.root", str(mini), "model.load_weights", str(sp), "train.max_epoch", str(args.top_epochs),
            *top_arms[arm]])  # fmt: skip

    figures = {}
    for arm in ["E_scratch", "A_sp", *reversed(top_arms)]:  # full TOP first: the arm the claim is about
        folder, start = base / arm if arm == "E_scratch" else work / arm, start_of(arm)  # E: one run per seed
        figures[arm] = _vi(folder / "vi", vi_root, seed, args.vi_epochs, start, args.workers)
        short = _vi(folder / f"vi-{args.short_epochs}", vi_root, seed, args.short_epochs, start, args.workers)
        figures[arm] |= {f"short_{metric}": value for metric, value in short.items()}
        if start is not None:
            zero_shot = _zero_shot(folder / "zero-shot", vi_root, start, args.workers)
            figures[arm] |= {f"zero_shot_{metric}": value for metric, value in zero_shot.items()}
        print(f"seed {seed}, {colours} corpus, {arm}: {figures[arm]}")
    return figures


def picture_name(colours: list[str], suffix: str) -> str:
    """The picture's file name: ``top_ablation<suffix>.png`` for both corpora, its JSON's name for one (a run on
    one corpus then never replaces the other corpus's picture)."""
    stem = JSON_NAMES[colours[0]] if len(set(colours)) == 1 else "top_ablation"
    return f"{stem}{suffix}.png"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--colours", nargs="+", choices=sorted(JSON_NAMES), default=["typical", "random"])
    parser.add_argument("--work", type=Path, default=Path("output/top_ablation"), help="stages, cached")
    parser.add_argument("--output", type=Path, default=None, help="where the JSON and PNG go (default: --work)")
    parser.add_argument("--vi-ids", type=int, default=100, help="VI training identities")
    parser.add_argument("--test-ids", type=int, default=60, help="held-out VI test identities")
    parser.add_argument("--corpus-classes", type=int, default=300)
    parser.add_argument("--corpus-images", type=int, default=12, help="images per class for SP")
    parser.add_argument("--mini-images", type=int, default=4, help="images per class for TOP")
    parser.add_argument("--sp-epochs", type=int, default=12)
    parser.add_argument("--top-epochs", type=int, default=40)
    parser.add_argument("--vi-epochs", type=int, default=20)
    parser.add_argument("--short-epochs", type=int, default=4, help="a second, short VI fine-tuning")
    parser.add_argument("--arms", nargs="+", choices=list(TOP_ARMS), default=list(TOP_ARMS),
                        help="the TOP arms to run (E and A always run)")  # fmt: skip
    parser.add_argument("--variant", nargs="+", metavar="NAME [KEY VALUE]",
                        help="a further arm: B (full TOP) with these TOP options, e.g. ganin top.grl_schedule ganin; "
                             "its JSON and picture carry the name")  # fmt: skip
    parser.add_argument("--size", type=int, nargs=2, default=[128, 64], metavar=("HEIGHT", "WIDTH"))
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)
    if args.vi_ids < 10:
        parser.error(f"--vi-ids {args.vi_ids}: at least 10 (a tenth of them form the SYSU-MM01 val split)")
    if args.variant and (len(args.variant) % 2 != 1 or not args.variant[0].isidentifier()):
        parser.error(f"--variant {' '.join(args.variant)}: expected a name, then KEY VALUE pairs of TOP options")
    output = args.output or args.work
    suffix = f"_{args.variant[0]}" if args.variant else ""
    results = {}
    for colours in args.colours:
        per_seed = {seed: run_seed(args, seed, colours) for seed in args.seeds}
        results[colours] = {arm: {str(s): per_seed[s][arm] for s in args.seeds} for arm in _labels(args)}
        output.mkdir(parents=True, exist_ok=True)
        (output / f"{JSON_NAMES[colours]}{suffix}.json").write_text(json.dumps(results[colours], indent=1) + "\n")
    print(report(results, output / picture_name(args.colours, suffix), _labels(args)))
    return results


if __name__ == "__main__":
    main()

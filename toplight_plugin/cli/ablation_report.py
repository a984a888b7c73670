"""The TOP ablation's tables and picture: every seed's figure per arm, the paired differences the claim rests on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from toplight_plugin.cli.figures import plt, save_png

ARMS = {
    "E_scratch": "E: random weights -> VI",
    "A_sp": "A: SP -> VI (Table 3 No.1)",
    "C_sp_generic": "C: SP -> generic augs + L_id -> soup -> VI (No.2)",
    "D_sp_idc": "D: SP -> task-oriented augs + L_idc -> soup -> VI (No.4)",
    "B_sp_top": "B: SP -> TOP (L_idc + L_fd) -> soup -> VI (No.5)",
}
CORPORA = {"typical": "colour-informative corpus", "random": "general corpus (colours per image)"}
MODES = ("all", "indoor")  # SYSU-MM01 search modes
STAGES = {"": "after the full VI fine-tuning", "short_": "after a short VI fine-tuning",
          "zero_shot_": "of the start itself, before VI training"}  # metric prefixes  # fmt: skip


def table(results: dict[str, dict[str, dict]], metrics: tuple[str, str], labels: dict[str, str] = ARMS) -> str:
    """Markdown: one row per arm that has the metrics (random weights have no zero-shot row), one column per seed,
    then the mean; each cell ``rank-1 / mAP``."""
    seeds = sorted(next(iter(results.values())), key=int)
    lines = [f"| {' / '.join(metrics)} | " + " | ".join(f"seed {s}" for s in seeds) + " | mean |",
             "|---" * (len(seeds) + 2) + "|"]  # fmt: skip
    for arm, label in labels.items():
        if metrics[0] not in results[arm][seeds[0]]:
            continue
        values = np.array([[results[arm][s][m] for m in metrics] for s in seeds])
        cells = [" / ".join(f"{v:.1f}" for v in row) for row in [*values, values.mean(axis=0)]]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def paired(results: dict[str, dict[str, dict]], arm: str, against: str, metric: str = "all_rank1") -> str:
    """``arm - against`` per seed and on the mean, and on how many seeds it is positive."""
    seeds = sorted(results[arm], key=int)
    diffs = [results[arm][s][metric] - results[against][s][metric] for s in seeds]
    per_seed = ", ".join(f"{d:+.1f}" for d in diffs)
    return f"{arm} - {against} ({metric}): mean {np.mean(diffs):+.1f}, per seed {per_seed}, " \
           f"above on {sum(d > 0 for d in diffs)} of {len(diffs)}"  # fmt: skip


def _stage_points(ax, per_arm: dict, metric: str, shift: float, label: str, colour: str) -> None:
    """Every seed's ``metric`` per arm as points (annotated with the seed) and their mean as a bar; the legend entry
    is taken from arm A, which has every stage."""
    for x, arm in enumerate(per_arm):
        seeds = sorted(per_arm[arm], key=int)
        if metric not in per_arm[arm][seeds[0]]:
            continue
        values = [per_arm[arm][s][metric] for s in seeds]
        ax.scatter([x + shift] * len(values), values, s=14, zorder=3, color=colour, label=label if x == 1 else None)
        ax.hlines(np.mean(values), x + shift - 0.08, x + shift + 0.08, color="black")
        for s, v in zip(seeds, values, strict=True):
            ax.annotate(s, (x + shift, v), xytext=(3, 0), textcoords="offset points", fontsize=6)


def report(results: dict[str, dict], picture: Path, labels: dict[str, str] = ARMS) -> str:
    """Tables and paired differences per corpus and stage; the picture: all-search rank-1 of each seed, per arm and
    stage."""
    figure, axes = plt.subplots(1, len(results), figsize=(6 * len(results), 4), squeeze=False)
    text = []
    for ax, (colours, per_arm) in zip(axes[0], results.items(), strict=True):
        text.append(f"## {CORPORA[colours]}")
        for prefix, stage in STAGES.items():
            text += [f"### {stage}",
                     *(table(per_arm, (f"{prefix}{mode}_rank1", f"{prefix}{mode}_mAP"), labels) for mode in MODES)]
            text += [paired(per_arm, arm, "A_sp", prefix + "all_rank1")
                     for arm in reversed(labels) if arm not in ("E_scratch", "A_sp")]  # fmt: skip
        text.append(paired(per_arm, "A_sp", "E_scratch"))
        for n, (shift, (prefix, stage)) in enumerate(zip((0.2, 0.0, -0.2), STAGES.items(), strict=True)):
            _stage_points(ax, per_arm, prefix + "all_rank1", shift, stage, f"C{n}")
        ax.set_xticks(range(len(per_arm)), [arm.split("_")[0] for arm in per_arm])
        ax.set_ylabel("all-search rank-1 (%), held-out identities")
        ax.set_title(CORPORA[colours], fontsize=9)
        ax.set_ylim(0, 100)  # the legend's row above the points
        ax.legend(fontsize=6, loc="upper center", ncol=len(STAGES), handletextpad=0.1, columnspacing=0.8)
    save_png(figure, picture)
    return "\n\n".join(text + [f"picture written to {picture}"])

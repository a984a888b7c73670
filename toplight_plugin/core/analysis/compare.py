"""The comparison a paper's results section shows: each run's accuracy per protocol beside its FLOPs, parameters
and measured CPU speed and the published figures of the row it reproduces, as a table and as rank-1 against FLOPs
(log scale), the picture Table 4 argues from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from toplight_plugin.core.analysis.paper_figures import PAPER, PaperRow

METRICS = ("rank1", "mAP", "mINP")
PRIMARY = {"sysumm01": "sysu_all", "regdb": "regdb_v2i"}  # the protocol each paper table reports
DATASET_NAMES = {"sysumm01": "SYSU-MM01 all-search", "regdb": "RegDB visible to infrared"}


@dataclass
class Run:
    label: str  # <dataset folder>/<config name>
    model: str
    dataset: str  # the config's first data.sources entry
    mflops: float
    mparams: float
    paper: PaperRow | None = None
    results: dict | None = None  # results.json of the run (percent), None: not trained / tested
    speed: dict[str, float] = field(default_factory=dict)  # backend@batch -> images/s

    def rank1(self) -> float | None:
        """Rank-1 of the protocol the paper reports for this dataset (else the first one with a rank-1)."""
        if not self.results:
            return None
        protocol = PRIMARY.get(self.dataset)
        summary = self.results.get(protocol) or next((s for s in self.results.values() if "rank1" in s), None)
        return None if summary is None else summary["rank1"]

    def paper_figures(self) -> tuple[float, float] | None:
        return getattr(self.paper, self.dataset, None) if self.paper is not None else None


def protocols(runs: list[Run]) -> list[str]:
    seen: list[str] = []
    for run in runs:
        for name in run.results or {}:
            if name not in seen:
                seen.append(name)
    return seen


def _cell(summary: dict | None) -> str:
    if not summary:
        return "–"
    return " / ".join(f"{summary[m]:.2f}" if m in summary else "–" for m in METRICS)


def to_markdown(runs: list[Run], speed_keys: list[str]) -> str:
    names = protocols(runs)
    head = ["run", "model", *(f"{p} r=1 / mAP / mINP" for p in names), "paper r=1 / mAP", "MFLOPs (paper)",
            "params (M)", *(f"{k.replace('@', ' b=')} img/s" for k in speed_keys)]  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for run in runs:
        figures = run.paper_figures()
        paper_flops = "–" if run.paper is None else (">" if run.paper.lower_bound else "") + f"{run.paper.mflops:,}"
        cells = [
            run.label, run.model, *(_cell((run.results or {}).get(p)) for p in names),
            "–" if figures is None else f"{figures[0]:.2f} / {figures[1]:.2f}",
            f"{run.mflops:,.1f} ({paper_flops})", f"{run.mparams:.2f}",
            *(f"{run.speed[k]:.1f}" if k in run.speed else "–" for k in speed_keys),
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: list[Run], path: Path) -> Path:
    """One panel per dataset, rank-1 against MFLOPs on a log axis: the paper's points (gray, every published row of
    that table, labelled unless a run stands for it), each run with results (filled blue, at our FLOPs count) and
    each run without results but with a published row (hollow blue: our FLOPs count at the paper's rank-1, joined
    to the paper's point), labelled with the run's config name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(run.dataset for run in runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=(9 * len(datasets), 6.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        shown = [run for run in runs if run.dataset == dataset]
        represented = {run.paper.label for run in shown if run.paper is not None}
        for row in PAPER.values():
            figures = getattr(row, dataset, None)
            if figures is None:
                continue
            ax.scatter(row.mflops, figures[0], facecolors="none", edgecolors="tab:gray", s=36)
            if row.label not in represented:
                ax.annotate(("> " if row.lower_bound else "") + row.label, (row.mflops, figures[0]), fontsize=7,
                            color="tab:gray", xytext=(4, -8), textcoords="offset points")  # fmt: skip
        for run in shown:
            r1, fill, published = run.rank1(), "tab:blue", run.paper_figures()
            if r1 is None and published is not None:  # not tested: our FLOPs count at the paper's rank-1
                r1, fill = published[0], "none"
                ax.plot([run.paper.mflops, run.mflops], [r1, r1], color="tab:gray", lw=0.8, ls=":")
            if r1 is None:
                continue
            ax.scatter(run.mflops, r1, facecolors=fill, edgecolors="tab:blue", s=36)
            ax.annotate(run.label.split("/")[-1], (run.mflops, r1), fontsize=7, color="tab:blue", xytext=(4, 3),
                        textcoords="offset points")  # fmt: skip
        ax.scatter([], [], facecolors="none", edgecolors="tab:gray", label="paper (its FLOPs, its rank-1)")
        ax.scatter([], [], facecolors="none", edgecolors="tab:blue", label="our FLOPs count, the paper's rank-1")
        ax.scatter([], [], color="tab:blue", label="ours, measured")
        ax.legend(loc="lower right", fontsize=8)
        ax.set_xscale("log")
        ax.set_xlabel("MFLOPs (multiply-accumulates, one image)")
        ax.set_ylabel("rank-1 (%)")
        ax.set_title(DATASET_NAMES.get(dataset, dataset))
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

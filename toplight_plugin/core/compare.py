"""The comparison a paper's results section shows: each run's accuracy per protocol beside its FLOPs, parameters
and measured CPU speed and the published figures of the row it reproduces, as a table and as rank-1 against FLOPs
(log scale), the picture Table 4 argues from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .paper_figures import PAPER, PaperRow

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
    that table), each run with results (filled blue, at our FLOPs count) and each run without results but with a
    published row (hollow blue: our FLOPs count at the paper's rank-1), labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = list(dict.fromkeys(run.dataset for run in runs))
    fig, axes = plt.subplots(1, len(datasets), figsize=(7 * len(datasets), 5.5), squeeze=False)
    for ax, dataset in zip(axes[0], datasets, strict=True):
        for row in PAPER.values():
            figures = getattr(row, dataset, None)
            if figures is None:
                continue
            ax.scatter(row.mflops, figures[0], facecolors="none", edgecolors="tab:gray", s=40)
            ax.annotate(("> " if row.lower_bound else "") + row.label + " (paper)", (row.mflops, figures[0]),
                        fontsize=7, color="tab:gray", xytext=(4, -3), textcoords="offset points")  # fmt: skip
        for run in (r for r in runs if r.dataset == dataset):
            r1, label, fill = run.rank1(), run.label, "tab:blue"
            if r1 is None and run.paper_figures() is not None:  # not tested: our FLOPs at the paper's rank-1
                r1, label, fill = run.paper_figures()[0], f"{run.label} (our FLOPs, paper r=1)", "none"
            if r1 is None:
                continue
            ax.scatter(run.mflops, r1, facecolors=fill, edgecolors="tab:blue", s=40)
            ax.annotate(label, (run.mflops, r1), fontsize=7, color="tab:blue", xytext=(4, 3),
                        textcoords="offset points")  # fmt: skip
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

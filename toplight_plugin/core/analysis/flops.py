"""Multiply-accumulate counts (the paper's "FLOPs") per variant, beside Table 4's figures."""

from __future__ import annotations

import warnings

import torch
import torch.nn as nn

from toplight_plugin.core.analysis.paper_figures import paper_mflops
from toplight_plugin.core.models.heads import TRAINING_ONLY


def count_mflops(model: nn.Module, size: tuple[int, int] = (288, 144), in_chans: int = 3) -> float:
    """Mega multiply-accumulates of one image through ``model`` in eval mode (visible path).

    Counted with fvcore, which counts transposed convolutions by their input positions
    (thop multiplies them by the kernel area once too often).
    """
    with warnings.catch_warnings():  # fvcore's import uses APIs torch has deprecated
        warnings.simplefilter("ignore", FutureWarning)
        from fvcore.nn import FlopCountAnalysis

    was_training = model.training
    model.eval()
    counter = FlopCountAnalysis(model, torch.zeros(1, in_chans, *size))
    counter.unsupported_ops_warnings(False)
    counter.uncalled_modules_warnings(False)
    total = counter.total() / 1e6
    model.train(was_training)
    return total


def count_mparams(model: nn.Module) -> float:
    return sum(p.numel() for p in model.parameters()) / 1e6


def inference_mparams(model: nn.Module) -> float:
    """Millions of parameters a deployed model holds: all but the training-only ones (classifiers, DDAG's graph)."""
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(TRAINING_ONLY)) / 1e6


def flops_table(size: tuple[int, int] = (288, 144)) -> list[dict]:
    """One row per Table 4 variant: our counts without the FDR, what each FDR reading adds, and the paper's."""
    from toplight_plugin.core.models.registry import build

    rows = []
    for name, (paper_base, paper_top) in paper_mflops().items():
        plain = build(name, num_classes=1, fdr=None, height=size[0], width=size[1])
        base = count_mflops(plain, size)
        row = {"model": name, "mparams": round(count_mparams(plain.backbone), 2), "mflops_plain": round(base, 1)}
        for reading in ("spatial", "literal"):
            full = build(name, num_classes=1, fdr_reading=reading, height=size[0], width=size[1])
            row[f"fdr_mflops_{reading}"] = round(count_mflops(full, size) - base, 2)
            row[f"fdr_mparams_{reading}"] = round(count_mparams(full.backbone.neck), 3)
        rows.append({**row, "paper_plain": paper_base, "paper_top_fdr": paper_top})
    return rows


def to_markdown(rows: list[dict], size: tuple[int, int] = (288, 144)) -> str:
    head = (
        "| model | params, no FDR (M) | MFLOPs, no FDR | FDR spatial: MFLOPs / M params "
        "| FDR literal: MFLOPs / M params | paper baseline | paper +TOP & FDR | paper increment |\n"
        "|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r['model']} | {r['mparams']} | {r['mflops_plain']} "
        f"| {r['fdr_mflops_spatial']} / {r['fdr_mparams_spatial']} "
        f"| {r['fdr_mflops_literal']} / {r['fdr_mparams_literal']} "
        f"| {r['paper_plain']} | {r['paper_top_fdr']} | +{r['paper_top_fdr'] - r['paper_plain']} |"
        for r in rows
    ]
    return (
        head + "\n".join(lines) + f"\n\nInput {size[0]}x{size[1]}, one image, eval mode, fvcore multiply-accumulates.\n"
    )

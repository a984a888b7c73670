"""Published figures a comparison is drawn against: Table 4 of the TOPLight paper (MFLOPs at 288 x 144, SYSU-MM01
all-search and RegDB visible-to-infrared r=1 / mAP) and the AGW and DDAG rows of its Tables 6-7 (DDAG's SYSU mAP
as DDAG published it). Keyed by config name (``configs/<dataset>/<name>.yaml``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PaperRow:
    label: str
    model: str  # the registry name this project builds it with
    mflops: int
    lower_bound: bool  # the paper prints "> mflops"
    sysumm01: tuple[float, float]  # r=1, mAP
    regdb: tuple[float, float]


PAPER: dict[str, PaperRow] = {
    "shufflenetv2_10_baseline": PaperRow("ShuffleNetV2-1.0x", "toplight_shufflenetv2_x1_0", 139, False,
                                         (41.88, 41.94), (67.83, 64.85)),
    "shufflenetv2_10_top_fdr": PaperRow("ShuffleNetV2-1.0x +TOP & FDR", "toplight_shufflenetv2_x1_0", 177, False,
                                        (55.71, 52.63), (79.82, 66.36)),
    "shufflenetv2_15_baseline": PaperRow("ShuffleNetV2-1.5x", "toplight_shufflenetv2_x1_5", 265, False,
                                         (47.39, 47.81), (70.15, 65.28)),
    "shufflenetv2_15_top_fdr": PaperRow("ShuffleNetV2-1.5x +TOP & FDR", "toplight_shufflenetv2_x1_5", 371, False,
                                        (63.35, 60.81), (84.13, 76.98)),
    "ghostnet_10_baseline": PaperRow("GhostNet-1.0x", "toplight_ghostnet_100", 150, False,
                                     (42.53, 42.94), (71.28, 64.40)),
    "ghostnet_10_top_fdr": PaperRow("GhostNet-1.0x +TOP & FDR", "toplight_ghostnet_100", 189, False,
                                    (58.54, 55.19), (83.26, 77.16)),
    "ghostnet_13_baseline": PaperRow("GhostNet-1.3x", "toplight_ghostnet_130", 281, False,
                                     (50.89, 47.92), (72.51, 65.98)),
    "ghostnet_13_top_fdr": PaperRow("GhostNet-1.3x +TOP & FDR", "toplight_ghostnet_130", 395, False,
                                    (66.76, 64.01), (85.51, 79.95)),
    "mbv3s_baseline": PaperRow("MobileNetV3-S", "toplight_mobilenetv3_small", 104, False,
                               (40.92, 42.51), (62.77, 58.31)),
    "mbv3s_top_fdr": PaperRow("MobileNetV3-S +TOP & FDR", "toplight_mobilenetv3_small", 130, False,
                              (54.75, 50.26), (75.53, 70.17)),
    "mbv3l_baseline": PaperRow("MobileNetV3-L", "toplight_mobilenetv3_large", 250, False,
                               (47.81, 47.06), (71.26, 65.66)),
    "mbv3l_top_fdr": PaperRow("MobileNetV3-L +TOP & FDR", "toplight_mobilenetv3_large", 362, False,
                              (66.14, 63.80), (84.15, 79.26)),
    "resnet50": PaperRow("ResNet-50", "vi_resnet50", 3562, False, (56.98, 54.72), (76.86, 71.30)),
    "convnext_tiny": PaperRow("ConvNeXt-Tiny", "vi_convnext_tiny", 3620, False, (58.72, 55.31), (78.25, 72.64)),
    "vit_b16": PaperRow("ViT-B", "vi_vit_b16", 5689, False, (52.17, 51.81), (75.31, 70.37)),
    "swin_tiny": PaperRow("Swin-Tiny", "vi_swin_tiny", 3287, False, (58.24, 55.16), (78.39, 72.68)),
    "agw_resnet50": PaperRow("AGW", "agw_resnet50", 3562, True, (47.50, 47.65), (70.05, 66.37)),
    "ddag_resnet50": PaperRow("DDAG", "ddag_resnet50", 3562, True, (54.75, 53.02), (69.34, 63.46)),
}  # fmt: skip


def paper_row(config_file: str | Path) -> PaperRow | None:
    """The published row a config reproduces, by its file name; None for a config of no published row."""
    return PAPER.get(Path(config_file).stem)


def paper_mflops() -> dict[str, tuple[int, int]]:
    """model name -> (baseline, +TOP & FDR) MFLOPs of Table 4's lightweight rows."""
    keys = ("shufflenetv2_10", "shufflenetv2_15", "ghostnet_10", "ghostnet_13", "mbv3s", "mbv3l")
    return {PAPER[f"{k}_baseline"].model: (PAPER[f"{k}_baseline"].mflops, PAPER[f"{k}_top_fdr"].mflops) for k in keys}

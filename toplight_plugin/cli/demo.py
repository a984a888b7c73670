"""The main job on the embedded synthetic data: generate it, build every model through torchreid,
extract cross-modality features and print them with the FLOPs table."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm import tqdm

import toplight_plugin
from toplight_plugin.core.batchnorm import recalibrate_batchnorm
from toplight_plugin.core.flops import flops_table, to_markdown
from toplight_plugin.core.synthetic import make_sysu
from toplight_plugin.hosts.torchreid import compat

VISIBLE_CAMS, INFRARED_CAMS = ("cam1", "cam2", "cam4", "cam5"), ("cam3", "cam6")
MEAN, STD = torch.tensor([0.485, 0.456, 0.406]), torch.tensor([0.229, 0.224, 0.225])


def _images(root: Path, split: str, cams: tuple[str, ...]) -> tuple[list[Path], np.ndarray]:
    """Image paths and identities of one SYSU-MM01 split file, for the given cameras."""
    ids = [int(v) for v in (root / "exp" / f"{split}_id.txt").read_text().strip().split(",")]
    paths = [p for pid in ids for cam in cams for p in sorted((root / cam / f"{pid:04d}").glob("*.jpg"))]
    return paths, np.array([int(p.parent.name) for p in paths])


def _load(paths: list[Path], size: tuple[int, int]) -> torch.Tensor:
    """Resize to (height, width), ImageNet-normalise."""
    arrays = [np.asarray(Image.open(p).convert("RGB").resize(size[::-1], Image.BILINEAR)) for p in paths]
    x = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).float() / 255
    return (x - MEAN[:, None, None]) / STD[:, None, None]


def _model_size(name: str) -> tuple[int, int]:
    return (128, 128) if name.startswith("lightcnn") else (288, 144)


def _unnormalise(x: torch.Tensor) -> torch.Tensor:
    """Back to [0, 1]: LightCNN takes intensities, not ImageNet-normalised colour."""
    return x * STD[:, None, None] + MEAN[:, None, None]


@torch.no_grad()
def extract_all(root: Path, names: list[str] | None = None, batch: int = 32) -> list[dict]:
    """Every registered model: features of infrared queries and visible gallery of the test ids.

    The networks are untrained (BatchNorm statistics recalibrated on training images), so
    rank-1 sits near chance; the columns show that each model runs end to end.
    """
    query, q_ids = _images(root, "test", INFRARED_CAMS)
    gallery, g_ids = _images(root, "test", VISIBLE_CAMS)
    train_v, _ = _images(root, "train", VISIBLE_CAMS)
    train_r, _ = _images(root, "train", INFRARED_CAMS)
    rows = []
    for name in tqdm(names or sorted(toplight_plugin.MODELS), desc="models"):
        size = _model_size(name)
        model = compat.models().build_model(name, num_classes=10, loss="triplet", pretrained=False)
        fix = _unnormalise if name.startswith("lightcnn") else (lambda t: t)
        calib = fix(_load(train_v[:batch] + train_r[:batch], size))
        modality = torch.tensor([0] * len(train_v[:batch]) + [1] * len(train_r[:batch]))
        recalibrate_batchnorm(model, [(calib, modality)])
        start = time.perf_counter()
        q = torch.cat([model(fix(_load(query[i : i + batch], size)), 1) for i in range(0, len(query), batch)])
        g = torch.cat([model(fix(_load(gallery[i : i + batch], size)), 0) for i in range(0, len(gallery), batch)])
        seconds = time.perf_counter() - start
        q, g = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(g, dim=1)
        top1 = g_ids[(q @ g.T).argmax(dim=1).numpy()]
        rows.append(
            {
                "model": name,
                "feature": q.shape[1],
                "images/s": round((len(query) + len(gallery)) / seconds, 1),
                "rank1": round(float(np.mean(top1 == q_ids)) * 100, 1),
                "chance": round(100 / len(set(g_ids.tolist())), 1),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("data/synthetic"), help="where the synthetic data goes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-flops", action="store_true", help="skip the FLOPs table")
    args = parser.parse_args(argv)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    root = make_sysu(args.data / "sysu", seed=args.seed)
    print(f"synthetic SYSU-MM01 layout written to {root}")
    rows = extract_all(root)
    print("\n| model | feature | images/s (load + extract) | IR->VIS rank-1 (untrained, %) | chance (%) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['feature']} | {r['images/s']} | {r['rank1']} | {r['chance']} |")
    if not args.no_flops:
        print("\n" + to_markdown(flops_table()))
    return rows


if __name__ == "__main__":
    main()

"""torchreid's ``test.visrank`` for the plugin's datasets: one picture per query (the query, then its top-k gallery
images framed green when right and red when wrong), ranked by the published protocol's distance and drop rule.

torchreid names each picture after the query's file name, which repeats across SYSU-MM01's camera and identity
folders (``cam3/0001/0001.jpg``, ``cam6/0001/0001.jpg``), so later queries overwrite earlier ones; here the name is
the query's path below the folder all queries share, so every query keeps its own picture.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from toplight_plugin.core.data.images import read_image

BORDER, GAP, QUERY_GAP = 4, 8, 40
RIGHT, WRONG = (0, 160, 0), (200, 0, 0)
BLOCK = 256  # distance rows ranked at a time


@dataclass(frozen=True)
class VisRank:
    save_dir: Path
    topk: int
    height: int
    width: int

    def _tile(self, path, colour=None) -> Image.Image:
        image = read_image(str(path)).resize((self.width - 2 * BORDER, self.height - 2 * BORDER))
        return ImageOps.expand(image, BORDER, fill=colour or (0, 0, 0))

    def draw(self, query_paths, q_pids, gallery_paths, g_pids, distances, dropped: np.ndarray | None) -> int:
        """Write one JPEG per query; ``distances`` supports row slices (FeatureDistances or an array), ``dropped``
        marks the (query, gallery) pairs the protocol leaves out. Returns the number of pictures written."""
        self.save_dir.mkdir(parents=True, exist_ok=True)
        root = os.path.commonpath([str(Path(p).parent) for p in query_paths])
        topk = min(self.topk, len(gallery_paths))
        for lo in range(0, len(query_paths), BLOCK):
            block = np.array(distances[lo : lo + BLOCK], dtype=np.float64)
            if dropped is not None:
                block[dropped[lo : lo + BLOCK]] = np.inf
            for row, order in enumerate(np.argsort(block, axis=1, kind="stable")[:, :topk]):
                q = lo + row
                kept = [g for g in order if np.isfinite(block[row, g])]
                canvas = Image.new("RGB", (self.width * (len(kept) + 1) + GAP * len(kept) + QUERY_GAP, self.height),
                                   (255, 255, 255))  # fmt: skip
                canvas.paste(self._tile(query_paths[q]), (0, 0))
                for rank, g in enumerate(kept):
                    x = self.width * (rank + 1) + GAP * rank + QUERY_GAP
                    canvas.paste(self._tile(gallery_paths[g], RIGHT if g_pids[g] == q_pids[q] else WRONG), (x, 0))
                name = Path(os.path.relpath(query_paths[q], root)).with_suffix(".jpg")
                canvas.save(self.save_dir / "_".join(name.parts))
        print(f"ranked lists of {len(query_paths)} queries drawn in {self.save_dir}")
        return len(query_paths)

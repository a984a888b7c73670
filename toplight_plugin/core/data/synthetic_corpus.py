"""A pretraining corpus for the synthetic TOP ablation: the role ImageNet plays in the paper, drawn by the renderer.

The renderer's identities are combinations of discrete attributes (build, head, torso, top pattern and its scale,
shorts, striped legs, cap, bag: 2,112 distinct ones). ``split_people`` deals them out once, in a seeded order, to
the VI set and to the corpus, so every class is a distinct combination and none is a VI identity. The corpus holds
visible images only. ``colours="typical"`` gives each class a palette its images keep (up to a little noise), as
ImageNet classes keep typical colours: the colour prior that task-oriented pretraining is meant to unlearn, since
in the VI sets every colour is drawn anew per image. ``colours="random"`` draws them per image, as the VI sets do.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import numpy as np

from toplight_plugin.core.data.synthetic import VISIBLE_CAMS, _camera_look, _check, _fresh
from toplight_plugin.core.data.synthetic_render import (
    CYCLES,
    HEADS,
    PATTERNS,
    TORSOS,
    WIDTHS,
    Person,
    random_palette,
    render_visible,
)

COLOURS = ("typical", "random")


def _combinations() -> list[tuple]:
    """Every distinct identity: a plain top has no pattern scale, so it counts once."""
    patterns = [("plain", CYCLES[0])] + [(p, c) for p in PATTERNS if p != "plain" for c in CYCLES]
    return list(itertools.product(WIDTHS, HEADS, TORSOS, patterns, *[(False, True)] * 4))


def split_people(seed: int, *counts: int) -> list[list[Person]]:
    """Disjoint lists of ``counts`` distinct identities, dealt from one seeded order of all combinations; the sizes
    are jittered per identity as ``random_person`` does."""
    combos = _combinations()
    _check(sum(counts) <= len(combos), f"{sum(counts)} identities asked for, the renderer has {len(combos)}")
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(combos))
    people = []
    for width, head, torso, (pattern, cycles), shorts, legs, cap, bag in (combos[i] for i in order[: sum(counts)]):
        people.append(Person(
            width=float(width + rng.uniform(-0.02, 0.02)), head=float(head + rng.uniform(-0.005, 0.005)),
            torso=float(torso + rng.uniform(-0.01, 0.01)), pattern=pattern, cycles=cycles, shorts=shorts,
            legs_striped=legs, cap=cap, bag=bag,
        ))  # fmt: skip
    bounds = np.cumsum(counts)[:-1]
    return [list(part) for part in np.split(np.array(people, dtype=object), bounds)]


def make_corpus(root: str | Path, people: list[Person], images_per_class: int = 12, size: tuple[int, int] = (128, 64),
                seed: int = 0, colours: str = "typical") -> Path:  # fmt: skip
    """Write an ImageFolder tree (``class_NNNN/NNN.jpg``), one class per person, visible cameras in turn."""
    _check(colours in COLOURS, f"colours must be one of {COLOURS}, got {colours!r}")
    _check(images_per_class >= 1 and len(people) >= 1, "need at least one class and one image per class")
    root = _fresh(root)
    rng = np.random.default_rng(seed)
    for c, person in enumerate(people):
        palette = random_palette(rng) if colours == "typical" else None
        folder = root / f"class_{c:04d}"
        folder.mkdir()
        for n in range(images_per_class):
            tint, _ = _camera_look(VISIBLE_CAMS[n % len(VISIBLE_CAMS)])
            render_visible(person, size, rng, tint, palette).save(folder / f"{n:03d}.jpg", quality=90)
    return root


def subset(corpus: str | Path, root: str | Path, images_per_class: int) -> Path:
    """The first ``images_per_class`` images of every class, hard-linked: the corpus's "ImageNet-mini"."""
    root = _fresh(root)
    for folder in sorted(p for p in Path(corpus).iterdir() if p.is_dir()):
        (root / folder.name).mkdir()
        for image in sorted(folder.glob("*.jpg"))[:images_per_class]:
            os.link(image, root / folder.name / image.name)
    return root

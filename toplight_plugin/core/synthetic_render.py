"""Procedural people, rendered as a visible-light photo or as a thermal image.

Identity lives in what both modalities show: body proportions, head size, the torso's
pattern (stripes of some orientation, checks or dots, with its frequency and phase), the
trousers' pattern and a bag. Colour exists only in the visible rendering; the thermal one
maps the same pattern to intensity with its own curve, a warm body on a cool background,
sensor noise and blur.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PATTERNS = ("hstripes", "vstripes", "diagonal", "checks", "dots")


@dataclass(frozen=True)
class Person:
    width: float  # shoulder width, fraction of the image width
    head: float  # head radius, fraction of the image height
    torso: float  # torso length, fraction of the image height
    pattern: str
    frequency: float  # pattern cycles across the torso
    phase: float
    legs_striped: bool
    bag: int  # -1 left, 0 none, 1 right
    top_colours: tuple[tuple[int, int, int], tuple[int, int, int]]
    legs_colour: tuple[int, int, int]
    skin: tuple[int, int, int]


def random_person(rng: np.random.Generator) -> Person:
    colour = lambda: tuple(int(c) for c in rng.integers(0, 256, 3))  # noqa: E731
    return Person(
        width=float(rng.uniform(0.45, 0.75)),
        head=float(rng.uniform(0.07, 0.11)),
        torso=float(rng.uniform(0.28, 0.38)),
        pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        frequency=float(rng.uniform(2.0, 6.0)),
        phase=float(rng.uniform(0, 2 * np.pi)),
        legs_striped=bool(rng.integers(2)),
        bag=int(rng.integers(-1, 2)),
        top_colours=(colour(), colour()),
        legs_colour=colour(),
        skin=tuple(int(c) for c in rng.integers([150, 100, 70], [240, 200, 170])),
    )


def _pattern(p: Person, h: int, w: int, top: float, bottom: float) -> np.ndarray:
    """Pattern value in [0, 1] over the image, in torso coordinates (so it moves with the body)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (x - w / 2) / (p.width * w)  # -0.5..0.5 across the torso
    v = (y - top) / max(bottom - top, 1.0)  # 0..1 down the torso
    f, ph = p.frequency * 2 * np.pi, p.phase
    if p.pattern == "hstripes":
        s = np.sin(f * v + ph)
    elif p.pattern == "vstripes":
        s = np.sin(f * u + ph)
    elif p.pattern == "diagonal":
        s = np.sin(f * (u + v) / np.sqrt(2) + ph)
    elif p.pattern == "checks":
        s = np.sign(np.sin(f * u + ph)) * np.sign(np.sin(f * v + ph))
    else:  # dots
        s = np.cos(f * u + ph) * np.cos(f * v + ph) * 2 - 1
    return (s > 0).astype(np.float32)


def _layout(p: Person, h: int, w: int, rng: np.random.Generator) -> dict:
    """Body part masks after this image's nuisance: shift, scale, leg spread."""
    scale = rng.uniform(0.9, 1.05)
    cx = w / 2 + rng.uniform(-0.06, 0.06) * w
    cy0 = h * (0.05 + rng.uniform(-0.02, 0.02))
    head_r = p.head * h * scale
    head_c = (cx, cy0 + head_r)
    top = head_c[1] + head_r
    bottom = top + p.torso * h * scale
    half = p.width * w * scale / 2
    spread = rng.uniform(0.0, 0.12) * w
    bx, by = cx + p.bag * half * 1.05, top + (bottom - top) * 0.45
    feet = h * 0.97
    shapes = {
        "head": [("ellipse", [cx - head_r, head_c[1] - head_r, cx + head_r, head_c[1] + head_r])],
        "torso": [("rectangle", [cx - half, top, cx + half, bottom])],
        "legs": [
            ("polygon", [(cx - half * 0.9, bottom), (cx - 2, bottom), (cx - spread, feet), (cx - half - spread, feet)]),
            ("polygon", [(cx + 2, bottom), (cx + half * 0.9, bottom), (cx + half + spread, feet), (cx + spread, feet)]),
        ],
        "bag": [("rectangle", [bx - half * 0.25, by, bx + half * 0.25, bottom + (bottom - top) * 0.2])]
        if p.bag
        else [],
    }
    masks = {}
    for part, items in shapes.items():
        canvas = Image.new("L", (w, h))
        draw = ImageDraw.Draw(canvas)
        for kind, xy in items:
            getattr(draw, kind)(xy, fill=255)
        masks[part] = np.asarray(canvas, dtype=np.float32)[..., None] / 255
    masks["pattern"] = _pattern(p, h, w, top, bottom)[..., None]
    legs_v = np.mgrid[0:h, 0:w][0].astype(np.float32)[..., None]
    masks["leg_stripes"] = (np.sin(legs_v / h * 40 + p.phase) > 0).astype(np.float32) if p.legs_striped else 0 * legs_v
    return masks


def _compose(layers: list[tuple[np.ndarray, np.ndarray]], background: np.ndarray) -> np.ndarray:
    out = background
    for mask, value in layers:
        out = out * (1 - mask) + value * mask
    return out


def render_visible(p: Person, size: tuple[int, int], rng: np.random.Generator, tint: np.ndarray) -> Image.Image:
    """A colour photo: patterned clothes in the person's colours on a cluttered background."""
    h, w = size
    m = _layout(p, h, w, rng)
    bg = np.ones((h, w, 3), np.float32) * (tint + rng.uniform(-30, 30, 3))
    for _ in range(3):  # background clutter
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        bg[y0 : y0 + rng.integers(5, h // 3), x0 : x0 + rng.integers(5, w // 2)] = rng.uniform(0, 255, 3)
    top = m["pattern"] * np.array(p.top_colours[0]) + (1 - m["pattern"]) * np.array(p.top_colours[1])
    legs = np.array(p.legs_colour) * (1 - 0.5 * m["leg_stripes"])
    img = _compose(
        [(m["legs"], legs), (m["torso"], top), (m["head"], np.array(p.skin)), (m["bag"], np.full(3, 40.0))], bg
    )
    img = img * rng.uniform(0.75, 1.2) + rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def render_thermal(p: Person, size: tuple[int, int], rng: np.random.Generator, ambient: float) -> Image.Image:
    """A thermal image: warm body, the clothes' pattern as intensity, cool background, noise, blur."""
    h, w = size
    m = _layout(p, h, w, rng)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    bg = np.broadcast_to(ambient + 25 * y, (h, w, 1))
    top = 215 - 75 * m["pattern"]  # the thermal curve inverts and compresses the visible contrast
    legs = 175 - 45 * m["leg_stripes"]
    img = _compose(
        [(m["legs"], legs), (m["torso"], top), (m["head"], np.full(1, 245.0)), (m["bag"], np.full(1, ambient))], bg
    )
    img = img * rng.uniform(0.85, 1.1) + rng.normal(0, 8, img.shape)
    gray = Image.fromarray(np.clip(img[..., 0], 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.8))
    return gray.convert("RGB")  # three equal channels, as SYSU-MM01 stores infrared frames

"""Procedural people, rendered as a visible-light photo or as a thermal image.

Identity lives only in what both modalities show: build (shoulder width, head size, torso length), the top's
pattern geometry (plain, horizontal / vertical / diagonal stripes, checks or dots, coarse or fine), trousers or
shorts, striped or plain legs, a cap, a bag. Everything else varies per image: position, scale, leg spread, the
pattern's phase, the side the bag is carried on, the background, every visible colour (clothes, skin, background)
and every thermal intensity (each material's temperature, so the thermal contrast of the clothes is unrelated to
their visible luminance and may be inverted). Neither a grayscale pixel matcher nor a colour histogram can match
across modalities (docs/learning.md measures both); a network has to learn the shared geometry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

PATTERNS = ("plain", "hstripes", "vstripes", "diagonal", "checks", "dots")
WIDTHS = (0.42, 0.55, 0.68)  # shoulder width classes, fraction of the image width
TORSOS = (0.28, 0.36)  # torso length classes, fraction of the image height
HEADS = (0.075, 0.1)  # head radius classes, fraction of the image height
CYCLES = (2.5, 5.0)  # pattern cycles across the torso: coarse or fine
PALETTE_PARTS = ("top", "pattern", "cloth_legs", "leg_stripes", "skin", "bag", "cap")


@dataclass(frozen=True)
class Person:
    width: float
    head: float  # head radius, fraction of the image height
    torso: float
    pattern: str
    cycles: float  # pattern cycles across the torso (coarse 2.5 or fine 5)
    shorts: bool
    legs_striped: bool
    cap: bool
    bag: bool


def random_person(rng: np.random.Generator) -> Person:
    """One identity: each attribute class drawn uniformly, with a little per-identity jitter on the sizes."""
    return Person(
        width=float(WIDTHS[rng.integers(len(WIDTHS))] + rng.uniform(-0.02, 0.02)),
        head=float(rng.choice(HEADS) + rng.uniform(-0.005, 0.005)),
        torso=float(TORSOS[rng.integers(len(TORSOS))] + rng.uniform(-0.01, 0.01)),
        pattern=PATTERNS[int(rng.integers(len(PATTERNS)))],
        cycles=float(rng.choice(CYCLES)),
        shorts=bool(rng.integers(2)),
        legs_striped=bool(rng.integers(2)),
        cap=bool(rng.integers(2)),
        bag=bool(rng.integers(2)),
    )


def _pattern(p: Person, h: int, w: int, box: tuple[float, float, float, float], phase: float) -> np.ndarray:
    """Pattern value in {0, 1} over the image, in torso coordinates (so it moves and scales with the body)."""
    left, top, right, bottom = box
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (x - left) / max(right - left, 1.0)
    v = (y - top) / max(bottom - top, 1.0)
    f = p.cycles * 2 * np.pi
    if p.pattern == "plain":
        return np.zeros((h, w), np.float32)
    if p.pattern == "hstripes":
        s = np.sin(f * v + phase)
    elif p.pattern == "vstripes":
        s = np.sin(f * u + phase)
    elif p.pattern == "diagonal":  # the orientation flips with the image, so it is not an identity cue
        s = np.sin(f * (u + v) / np.sqrt(2) + phase)
    elif p.pattern == "checks":
        s = np.sin(f * u + phase) * np.sin(f * v + phase)
    else:  # dots
        s = np.cos(f * u + phase) * np.cos(f * v + phase) - 0.5
    return (s > 0).astype(np.float32)


def _masks(p: Person, h: int, w: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Body-part masks in [0, 1] (HxWx1) after this image's nuisance: shift, scale, leg spread, bag side, phase."""
    scale = rng.uniform(0.7, 1.05)
    cx = w / 2 + rng.uniform(-0.18, 0.18) * w
    head_r = p.head * h * scale
    head_top = h * (0.03 + rng.uniform(-0.02, 0.08) + (1.05 - scale) * 0.5)
    top = head_top + 2 * head_r
    bottom = top + p.torso * h * scale
    half = p.width * w * scale / 2
    feet = min(h * 0.98, bottom + (0.98 * h - bottom) * scale / 1.05)
    knee = bottom + (feet - bottom) * 0.45
    spread = rng.uniform(0.0, 0.1) * w
    side = rng.choice((-1, 1))
    bag_x = cx + side * (half + half * 0.2)
    legs = [
        [(cx - half * 0.85, bottom), (cx - 1, bottom), (cx - spread * 0.5, feet), (cx - half * 0.75 - spread, feet)],
        [(cx + 1, bottom), (cx + half * 0.85, bottom), (cx + half * 0.75 + spread, feet), (cx + spread * 0.5, feet)],
    ]
    shapes = {
        "head": [("ellipse", [cx - head_r, head_top, cx + head_r, top])],
        "cap": [("rectangle", [cx - head_r * 1.3, head_top - 1, cx + head_r * 1.3, head_top + head_r * 0.8])]
        if p.cap
        else [],
        "torso": [("rectangle", [cx - half, top, cx + half, bottom])],
        "legs": [("polygon", leg) for leg in legs],
        "cloth_legs": [("polygon", leg) for leg in legs],
        "bag": [("rectangle", [bag_x - half * 0.22, top + (bottom - top) * 0.35, bag_x + half * 0.22, bottom + 4])]
        if p.bag
        else [],
    }
    masks = {}
    for part, items in shapes.items():
        canvas = Image.new("L", (w, h))
        draw = ImageDraw.Draw(canvas)
        for kind, xy in items:
            getattr(draw, kind)(xy, fill=255)
        masks[part] = np.asarray(canvas, dtype=np.float32) / 255
    rows = np.arange(h, dtype=np.float32)[:, None]
    if p.shorts:  # bare skin below the knee
        masks["cloth_legs"] = masks["cloth_legs"] * (rows < knee)
    stripes = (np.sin((rows - bottom) / max(feet - bottom, 1.0) * 2 * np.pi * 4 + rng.uniform(0, 2 * np.pi)) > 0)
    masks["leg_stripes"] = masks["cloth_legs"] * stripes if p.legs_striped else np.zeros((h, w), np.float32)
    box = (cx - half, top, cx + half, bottom)
    masks["pattern"] = masks["torso"] * _pattern(p, h, w, box, rng.uniform(0, 2 * np.pi))
    return {k: v[..., None] for k, v in masks.items()}


def _compose(layers: list[tuple[np.ndarray, np.ndarray]], background: np.ndarray) -> np.ndarray:
    out = background
    for mask, value in layers:
        out = out * (1 - mask) + value * mask
    return out


def _layers(m: dict[str, np.ndarray], value) -> list[tuple[np.ndarray, np.ndarray]]:
    """Paint order, back to front; ``value(part)`` gives each part's colour or intensity for this image."""
    order = ("legs", "cloth_legs", "leg_stripes", "torso", "pattern", "bag", "head", "cap")
    return [(m[part], value(part)) for part in order]


def _contrasting(rng: np.random.Generator, channels: int, low: float, high: float, gap: float) -> np.ndarray:
    """Two values per channel set whose mean levels differ by at least ``gap`` (so a pattern stays visible)."""
    while True:
        pair = rng.uniform(low, high, (2, channels))
        if abs(pair[0].mean() - pair[1].mean()) >= gap:
            return pair


def random_palette(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Colours of every part of a person, with the contrasts render_visible keeps."""
    top, legs = _contrasting(rng, 3, 0, 255, 60), _contrasting(rng, 3, 0, 255, 50)
    return {
        "top": top[0], "pattern": top[1], "cloth_legs": legs[0], "leg_stripes": legs[1],
        "skin": rng.uniform([45, 30, 20], [250, 215, 190]), "bag": rng.uniform(0, 255, 3),
        "cap": rng.uniform(0, 255, 3),
    }  # fmt: skip


def render_visible(p: Person, size: tuple[int, int], rng: np.random.Generator, tint: np.ndarray,
                   palette: dict[str, np.ndarray] | None = None) -> Image.Image:  # fmt: skip
    """A colour photo: this image's colours on the person's geometry, a cluttered background in the camera's tint.
    ``palette``: the person's typical colours (random_palette), varied by a little per image, instead of colours
    drawn anew for every image."""
    h, w = size
    m = _masks(p, h, w, rng)
    bg = np.ones((h, w, 3), np.float32) * np.clip(tint + rng.uniform(-40, 40, 3), 0, 255)
    for _ in range(rng.integers(2, 5)):  # background clutter
        y0, x0 = rng.integers(0, h), rng.integers(0, w)
        bg[y0 : y0 + rng.integers(5, h // 3), x0 : x0 + rng.integers(5, w // 2)] = rng.uniform(0, 255, 3)
    if palette is None:  # skin: dark to light tones, no brightness cue shared with infrared
        c = random_palette(rng)
    else:
        c = {part: np.clip(palette[part] + rng.normal(0, 12, 3), 0, 255) for part in PALETTE_PARTS}
    colours = {
        "legs": c["skin"], "cloth_legs": c["cloth_legs"], "leg_stripes": c["leg_stripes"], "torso": c["top"],
        "pattern": c["pattern"], "bag": c["bag"], "head": c["skin"], "cap": c["cap"],
    }  # fmt: skip
    img = _compose(_layers(m, colours.get), bg)
    img = img * rng.uniform(0.7, 1.25) + rng.normal(0, 6, img.shape)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def render_thermal(p: Person, size: tuple[int, int], rng: np.random.Generator, ambient: float) -> Image.Image:
    """A thermal image: warm skin, each material at this image's own temperature, cool background, noise, blur."""
    h, w = size
    m = _masks(p, h, w, rng)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    level = ambient + rng.uniform(-15, 15)
    bg = np.broadcast_to(level + 25 * y, (h, w, 1))
    top = _contrasting(rng, 1, 110, 235, 45)  # cloth temperatures: contrast and polarity free of the colours
    legs = _contrasting(rng, 1, 110, 235, 40)
    skin = rng.uniform(225, 250, 1)
    values = {
        "legs": skin, "cloth_legs": legs[0], "leg_stripes": legs[1], "torso": top[0], "pattern": top[1],
        "bag": rng.uniform(level + 30, 150, 1), "head": skin, "cap": rng.uniform(level + 30, 200, 1),
    }  # fmt: skip
    img = _compose(_layers(m, values.get), bg)
    img = img * rng.uniform(0.85, 1.1) + rng.normal(0, 7, img.shape)
    gray = Image.fromarray(np.clip(img[..., 0], 0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(0.7))
    return gray.convert("RGB")  # three equal channels, as SYSU-MM01 stores infrared frames

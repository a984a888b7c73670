"""Image listing and reading with errors that name the file, and the opt-in scan that drops unreadable images."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from toplight_plugin.core.data.records import Record


class BadImageError(OSError):
    """An image file cannot be opened or decoded."""


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
HIGH_BIT_DEPTH = {"I;16": 65535, "I;16B": 65535, "I;16L": 65535, "I": 65535}  # mode -> full-scale value


def is_image(path: Path) -> bool:
    """An image by its suffix and not a hidden file (macOS writes ``._name.jpg`` beside copied images)."""
    return path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith(".")


def list_images(source: str | Path) -> list[Path]:
    """The image files under a folder (recursively, sorted), or the file itself."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such image file or folder")
    files = sorted(p for p in source.rglob("*") if p.is_file() and is_image(p))
    if not files:
        raise FileNotFoundError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) under it")
    return files


def read_image(path: str) -> Image.Image:
    """The image as 8-bit RGB (infrared images are stored with three equal channels or as grayscale), upright as
    its EXIF orientation says (a phone's JPEG stored sideways is shown upright by every viewer). 16-bit grayscale,
    as thermal sensors write it, is scaled from its full range to 0-255 rather than clipped at 255."""
    try:
        with Image.open(path) as image:
            ImageOps.exif_transpose(image, in_place=True)
            if image.mode in HIGH_BIT_DEPTH:
                scaled = np.asarray(image, dtype=np.float64) * (255 / HIGH_BIT_DEPTH[image.mode])
                return Image.fromarray(np.clip(scaled.round(), 0, 255).astype(np.uint8)).convert("RGB")
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"cannot read image {path}: {error}") from error


BAD_IMAGES = ("fail", "check", "skip")  # toplight.bad_images


def screen(records: list[Record], dataset: str, policy: str) -> list[Record]:
    """``policy`` "fail": nothing now (an unreadable image stops the run when it is read, naming the file);
    "check": decode every image once and stop before any work, naming every unreadable one; "skip": decode every
    image once, warn with the count and the files, and return the others."""
    if policy not in BAD_IMAGES:
        raise ValueError(f"toplight.bad_images must be one of {list(BAD_IMAGES)}, got {policy!r}")
    if policy == "fail":
        return records
    good, bad = [], []
    for record in records:
        try:
            read_image(record.path)
        except BadImageError as error:
            bad.append(str(error))
            continue
        good.append(record)
    if bad and policy == "check":
        raise BadImageError(f"{dataset}: {len(bad)} unreadable image(s) (toplight.bad_images skip drops them):\n"
                            + "\n".join(bad))  # fmt: skip
    if bad:
        warnings.warn(f"{dataset}: skipped {len(bad)} unreadable image(s):\n" + "\n".join(bad), stacklevel=2)
    return good

"""Image listing and reading with errors that name the file, and the opt-in scan that drops unreadable images."""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image

from toplight_plugin.core.data.records import Record


class BadImageError(OSError):
    """An image file cannot be opened or decoded."""


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def list_images(source: str | Path) -> list[Path]:
    """The image files under a folder (recursively, sorted), or the file itself."""
    source = Path(source)
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source}: no such image file or folder")
    files = sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f"{source}: no images ({', '.join(IMAGE_SUFFIXES)}) under it")
    return files


def read_image(path: str) -> Image.Image:
    """The image as RGB (infrared images are stored with three equal channels or as grayscale)."""
    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, SyntaxError, ValueError) as error:
        raise BadImageError(f"cannot read image {path}: {error}") from error


def drop_unreadable(records: list[Record], dataset: str) -> list[Record]:
    """Decode every image once; warn about each unreadable one and return the others (``skip_bad_images``)."""
    good, bad = [], []
    for record in records:
        try:
            read_image(record.path)
        except BadImageError as error:
            bad.append(str(error))
            continue
        good.append(record)
    if bad:
        warnings.warn(f"{dataset}: skipped {len(bad)} unreadable image(s):\n" + "\n".join(bad), stacklevel=2)
    return good

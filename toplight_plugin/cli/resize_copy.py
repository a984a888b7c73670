"""Write a copy of a dataset folder with every image already at the network's input size, so that training's loader
workers decode small images instead of full-size ones.

    toplight-resize-copy SRC DST --size HEIGHT WIDTH [--quality 95] [--mode auto|resize|fit] [--workers N]

Any layout the project reads (SYSU-MM01, RegDB, the NIR-VIS face sets, an ImageFolder, or a folder holding some of
them) is copied whole: the same folders and file names, every non-image file (split lists, id files, ``.mat``)
unchanged, every image read as the loaders read it (EXIF orientation applied, 16-bit scaled to 8 bits) and resized
as the training transform resizes it, so that the transform's own resize is then an identity:

- ``resize`` (the VI datasets): squashed to HEIGHT x WIDTH by albumentations' ``Resize`` (bilinear), the first step
  of the training and test transforms;
- ``fit`` (an ImageFolder for pretraining): scaled with the aspect kept until it covers HEIGHT x WIDTH and
  centre-cropped, the first steps of the task-oriented views;
- ``auto``: ``fit`` for an ImageFolder, ``resize`` for everything else.

Images keep their file format: PNG and BMP stay lossless, JPEG is written at ``--quality`` with full-resolution
colour (4:4:4); an image whose three channels are equal (infrared) is stored as one grey channel, which the loaders
read back as the same three equal channels. An image that cannot be decoded is copied unchanged, so the loaders'
``toplight.bad_images`` policy treats it as before.

DST must not exist or be empty, and must not lie inside SRC. ``RESIZED_COPY.json`` in DST names the source, the
size and the mode; it says ``"complete": false`` until the last file is written, and the dataset readers refuse such
a copy. Every file is written under a temporary name and renamed when whole, so running the same command again
after an interruption finishes the copy.
"""

from __future__ import annotations

import argparse
import errno
import multiprocessing
import os
import shutil
from pathlib import Path

import albumentations as A
import numpy as np
from PIL import Image
from tqdm import tqdm

from toplight_plugin.core.data.images import BadImageError, is_image, read_image
from toplight_plugin.core.data.resized_copy import NOTE, read_note, write_note
from toplight_plugin.core.data.top_augment import fit
from toplight_plugin.core.training.checkpoint import DiskFullError

FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".bmp": "BMP"}
PARTIAL = ".partial"  # suffix of a file being written; never an image suffix, so no reader lists one
VI_LAYOUTS = {  # a folder holding these is read by the VI dataset readers, which resize (squash) every image
    "SYSU-MM01": ("cam1", "cam3", "exp"),
    "RegDB": ("Visible", "Thermal", "idx"),
    "NIR-VIS faces": ("VIS", "NIR"),
}


def layout_of(folder: Path) -> str | None:
    """The VI dataset layout of ``folder``, or "a folder of <layouts>" when sub-folders have one; None otherwise."""

    def layout(candidate: Path) -> str | None:
        return next((n for n, needed in VI_LAYOUTS.items() if all((candidate / p).is_dir() for p in needed)), None)

    if own := layout(folder):
        return own
    held = sorted({name for p in folder.iterdir() if p.is_dir() and (name := layout(p))})
    return f"a folder of {', '.join(held)}" if held else None


def resizer(mode: str, height: int, width: int) -> A.Compose:
    steps = [A.Resize(height, width)] if mode == "resize" else fit(height, width)
    return A.Compose(steps)


class Converter:
    """One file of SRC written under DST (its relative path kept); returns what it wrote: "image", "unreadable"
    (copied unchanged) or "other"."""

    def __init__(self, src: Path, dst: Path, mode: str, height: int, width: int, quality: int):
        self.src, self.dst, self.quality = src, dst, quality
        self.resize = resizer(mode, height, width)

    def __call__(self, relative: str) -> str:
        source, target = self.src / relative, self.dst / relative
        partial = target.with_name(f".{target.name}.{os.getpid()}{PARTIAL}")
        kind = "other"
        if is_image(source) and source.suffix.lower() in FORMATS:
            try:
                image = np.asarray(read_image(str(source)))
                kind = "image"
            except BadImageError:
                kind = "unreadable"
        if kind == "image":
            self.save(self.resize(image=image)["image"], partial, FORMATS[source.suffix.lower()])
        else:
            shutil.copyfile(source, partial)
            shutil.copystat(source, partial)
        os.replace(partial, target)
        return kind

    def save(self, array: np.ndarray, path: Path, fmt: str) -> None:
        grey = bool((array[..., 0] == array[..., 1]).all() and (array[..., 0] == array[..., 2]).all())
        image = Image.fromarray(np.ascontiguousarray(array[..., 0] if grey else array))
        options = {"quality": self.quality, "subsampling": 0} if fmt == "JPEG" else {}
        image.save(path, format=fmt, **options)


_CONVERTER: Converter | None = None  # a worker's, set by _init_worker


def _init_worker(converter: Converter) -> None:
    """No ``cv2.setNumThreads`` here: in a forked process it tears down the parent's OpenCV thread pool, which can
    deadlock (the training loader's workers hung that way)."""
    global _CONVERTER
    _CONVERTER = converter


def _convert(relative: str) -> str:
    return _CONVERTER(relative)


def source_files(src: Path) -> tuple[list[str], list[str]]:
    """(folders, files) under ``src`` as sorted relative paths; linked folders are followed once each."""
    folders, files, seen = [], [], set()
    for top, dirs, names in os.walk(src, followlinks=True):
        real = os.path.realpath(top)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        relative = Path(top).relative_to(src)
        folders += [str(relative / d) for d in dirs]
        files += [str(relative / n) for n in names]
    return sorted(folders), sorted(files)


def difference(src: Path, dst: Path, images: list[str], mode: str, height: int, width: int, sample: int = 200):
    """How far the copy's pixels are from what the pipelines make of the originals, over up to ``sample`` images
    spread over the copy: ``{"train": ..., "test": ...}``, each the RMS, mean and largest absolute difference per
    channel (0-255). "train": against the training transform's resize (albumentations) of the original, the JPEG
    re-encoding alone (0 for PNG and BMP); "test" (``resize`` mode): against the test transform's resize of the
    original (torchvision's, i.e. PIL's antialiased bilinear), which the copy replaces by the training one."""
    picked = images[:: max(1, len(images) // sample)][:sample]
    resize = resizer(mode, height, width)
    sums = {"train": [], "test": []} if mode == "resize" else {"train": []}
    for relative in picked:
        try:
            original = read_image(str(src / relative))
        except BadImageError:
            continue
        copy = np.asarray(read_image(str(dst / relative)), dtype=np.float64)
        references = {"train": resize(image=np.asarray(original))["image"]}
        if mode == "resize":
            references["test"] = np.asarray(original.resize((width, height), Image.BILINEAR))
        for name, reference in references.items():
            gap = np.abs(copy - reference)
            sums[name].append(((gap**2).mean(), gap.mean(), gap.max()))
    return {
        name: {"images": len(rows), "rms": round(float(np.sqrt(np.mean([r[0] for r in rows]))), 3),
               "mean_abs": round(float(np.mean([r[1] for r in rows])), 3), "max_abs": int(max(r[2] for r in rows))}
        for name, rows in sums.items() if rows
    }  # fmt: skip


def prepare(src: Path, dst: Path, note: dict) -> bool:
    """Check SRC and DST; True when DST holds an unfinished copy made with the same arguments (it is resumed)."""
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such dataset folder")
    if dst == src or src in dst.parents or dst in src.parents:
        raise ValueError(f"{dst}: the copy must not be SRC ({src}), lie inside it or hold it")
    if read_note(src) is not None:
        raise ValueError(f"{src} is itself a resized copy ({src / NOTE}): copy from the original images")
    if dst.exists() and not dst.is_dir():
        raise NotADirectoryError(f"{dst}: exists and is not a folder")
    if not dst.exists() or not any(dst.iterdir()):
        return False
    found = read_note(dst)
    if found is None:
        raise FileExistsError(f"{dst}: exists and is not empty; give a new or empty folder")
    if found["complete"]:
        raise FileExistsError(f"{dst}: already a finished resized copy of {found['source']} at {found['height']} x "
                              f"{found['width']}")  # fmt: skip
    keys = ("source", "height", "width", "mode", "quality")
    if any(found.get(k) != note[k] for k in keys):
        was = ", ".join(f"{k} {found.get(k)}" for k in keys)
        raise FileExistsError(f"{dst}: an unfinished copy made with other arguments ({was}); remove it or give "
                              "another folder")  # fmt: skip
    return True


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("src", type=Path, metavar="SRC", help="the dataset folder")
    parser.add_argument("dst", type=Path, metavar="DST", help="the copy: a new or empty folder")
    parser.add_argument("--size", type=int, nargs=2, required=True, metavar=("HEIGHT", "WIDTH"),
                        help="data.height and data.width of the configs that will read the copy")  # fmt: skip
    parser.add_argument("--quality", type=int, default=95, help="JPEG quality of the resized JPEG images")
    parser.add_argument("--mode", choices=("auto", "resize", "fit"), default="auto")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="processes (default: every CPU)")
    args = parser.parse_args(argv)
    height, width = args.size
    if height < 1 or width < 1:
        raise ValueError(f"--size {height} {width}: both must be at least 1")
    if not 1 <= args.quality <= 100:
        raise ValueError(f"--quality {args.quality}: must be within 1-100")
    if args.workers < 1:
        raise ValueError(f"--workers {args.workers}: must be at least 1")
    src, dst = args.src.expanduser().resolve(), args.dst.expanduser().resolve()
    layout = layout_of(src) if src.is_dir() else None
    mode = args.mode if args.mode != "auto" else ("resize" if layout else "fit")
    note = {"tool": "toplight-resize-copy", "source": str(src), "height": height, "width": width, "mode": mode,
            "quality": args.quality, "complete": False}  # fmt: skip
    resuming = prepare(src, dst, note)
    how = {"resize": "squashed as the VI training transform resizes", "fit": "aspect kept, centre-cropped as the "
           "pretraining views fit"}[mode]  # fmt: skip
    print(f"{src} ({layout or 'ImageFolder'}) -> {dst}: images {height} x {width}, {how}"
          + ("; resuming an unfinished copy" if resuming else ""))  # fmt: skip
    dst.mkdir(parents=True, exist_ok=True)
    if resuming:
        for leftover in dst.rglob(f".*{PARTIAL}"):
            leftover.unlink()
    else:
        write_note(dst, note)
    folders, files = source_files(src)
    for folder in folders:
        (dst / folder).mkdir(exist_ok=True)
    todo = [f for f in files if not (dst / f).exists()]
    converter = Converter(src, dst, mode, height, width, args.quality)
    counts = {"image": 0, "unreadable": 0, "other": 0}
    bar = tqdm(total=len(files), initial=len(files) - len(todo), unit="file", desc="resize-copy")
    if args.workers == 1:
        _init_worker(converter)
        results = map(_convert, todo)
        pool = None
    else:
        pool = multiprocessing.get_context("fork").Pool(args.workers, _init_worker, (converter,))
        results = pool.imap_unordered(_convert, todo, chunksize=16)
    try:
        for kind in results:
            counts[kind] += 1
            bar.update()
    except OSError as error:
        if error.errno != errno.ENOSPC:
            raise
        written = len(files) - len(todo) + sum(counts.values())
        raise DiskFullError(f"{dst}: no space left on the device after {written} of {len(files)} files; free some "
                            "and run the same command again to finish the copy") from error  # fmt: skip
    finally:
        bar.close()
        if pool is not None:
            pool.terminate()
    images = [f for f in files if is_image(src / f) and Path(f).suffix.lower() in FORMATS]
    done = {"image": len(images), "other": len(files) - len(images)}  # the whole copy's, resumed parts included
    gaps = difference(src, dst, images, mode, height, width)
    write_note(dst, {**note, "complete": True, "images": done["image"], "other_files": done["other"],
                     "difference": gaps})  # fmt: skip
    unreadable = f", {counts['unreadable']} unreadable image(s) copied unchanged" if counts["unreadable"] else ""
    print(f"{dst}: {done['image']} images at {height} x {width}, {done['other']} other file(s) copied{unreadable}; "
          f"read it with data.height {height} data.width {width}")  # fmt: skip
    labels = {"train": "the training transform's input (JPEG re-encoding alone)",
              "test": "the test transform's input (its antialiased resize replaced by the training one)"}  # fmt: skip
    for name, gap in gaps.items():
        print(f"difference to {labels[name]}, {gap['images']} images: RMS {gap['rms']:.2f}, mean |d| "
              f"{gap['mean_abs']:.2f}, largest {gap['max_abs']} (0-255)")  # fmt: skip
    return {"dst": dst, "mode": mode, "layout": layout, "written": counts, "difference": gaps, **done}

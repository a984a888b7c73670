"""The note that ``toplight-resize-copy`` leaves in a pre-resized copy of a dataset, and the checks the dataset readers
make with it.

The note (``RESIZED_COPY.json`` at the top of the copy) is written with ``"complete": false`` before the first image
and replaced by one with ``"complete": true`` after the last file, so a copy cut short is never read as a finished
one: the readers refuse it, and the tool finishes it when run again with the same arguments.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from toplight_plugin.core.data.records import LayoutError

NOTE = "RESIZED_COPY.json"


def write_note(folder: Path, note: dict) -> None:
    """``note`` as ``folder/NOTE``, replaced in one step (a reader sees the old note or the new one)."""
    partial = folder / f".{NOTE}.{os.getpid()}.partial"
    partial.write_text(json.dumps(note, indent=2) + "\n")
    os.replace(partial, folder / NOTE)


def read_note(folder: Path) -> dict | None:
    """The note of the copy whose top folder is ``folder``; None when there is none."""
    path = Path(folder) / NOTE
    if not path.is_file():
        return None
    try:
        note = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable resized-copy note ({error})") from error
    if not isinstance(note, dict) or not {"source", "height", "width", "complete"} <= set(note):
        raise ValueError(f"{path}: not a resized-copy note (expected source, height, width, complete)")
    return note


def find_note(root: str | Path) -> tuple[Path, dict] | None:
    """(the copy's top folder, its note) when ``root`` is a resized copy or lies inside one (a copy of a folder of
    datasets holds the note above each dataset); None otherwise."""
    root = Path(root).expanduser().resolve()
    for folder in (root, *root.parents):
        note = read_note(folder)
        if note is not None:
            return folder, note
    return None


def check_copy(root: str | Path, height: int | None = None, width: int | None = None) -> dict | None:
    """Refuse a resized copy that was cut short (``LayoutError``: a user's mistake, one line from the tools); with
    ``height`` and ``width`` (the configured input size), warn when a finished copy was resized to another size: its
    images are then resized twice, a quality loss nothing else reports. Returns the copy's note, or None."""
    found = find_note(root)
    if found is None:
        return None
    folder, note = found
    if not note["complete"]:
        raise LayoutError(
            f"{folder}: an unfinished resized copy of {note['source']} (its copy was interrupted); finish it by "
            f"running the same command again: toplight-resize-copy {note['source']} {folder} --size "
            f"{note['height']} {note['width']}"
        )
    if height is not None and width is not None and (height, width) != (note["height"], note["width"]):
        warnings.warn(
            f"{folder} is a copy of {note['source']} resized to {note['height']} x {note['width']}, but the input "
            f"size is {height} x {width}: its images are resized a second time (lower quality than resizing the "
            f"originals); make a copy at {height} x {width} or read the originals",
            stacklevel=2,
        )
    return note

"""The record every parser returns, and the layout / label-file checks they share."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

VISIBLE, INFRARED = 0, 1  # also the stem index of the dual-path network
MODALITY_NAMES = {VISIBLE: "visible", INFRARED: "infrared"}


class Record(NamedTuple):
    """One image: absolute path, identity label, camera number and modality (``VISIBLE`` or ``INFRARED``)."""

    path: str
    pid: int
    camid: int
    modality: int


class LayoutError(FileNotFoundError):
    """A dataset folder does not have the expected files; the message lists what is missing and the expected tree."""


def require(root: Path, relative: list[str], dataset: str, tree: str) -> None:
    """Raise one ``LayoutError`` naming every missing path under ``root``, followed by the expected tree."""
    missing = [name for name in relative if not (root / name).exists()]
    if missing:
        listed = "\n".join(f"  - {root / name}" for name in missing)
        raise LayoutError(
            f"{dataset}: {len(missing)} expected path(s) missing under {root}:\n{listed}\nExpected layout:\n{tree}"
        )


def read_id_line(path: Path) -> list[int]:
    """A SYSU-MM01 id file: one line of comma-separated integers (blank lines ignored)."""
    lines = [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]
    if len(lines) != 1:
        raise ValueError(
            f"{path}: expected exactly one line of comma-separated ids, found {len(lines)} non-empty lines"
        )
    number, line = lines[0]
    ids = []
    for token in line.split(","):
        token = token.strip()
        if not token:
            continue
        if not token.isdigit():
            raise ValueError(f"{path}:{number}: expected comma-separated integer ids, found {token!r}")
        if int(token) in ids:
            raise ValueError(f"{path}:{number}: id {int(token)} is listed twice")
        ids.append(int(token))
    if not ids:
        raise ValueError(f"{path}:{number}: no ids on the line")
    return ids


def read_label_file(path: Path) -> list[tuple[str, int]]:
    """Lines ``relative/path label``; every malformed or repeated line is reported with its number in one error."""
    entries, bad, first = [], [], {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
            bad.append(f"  line {number}: {line!r}")
            continue
        if parts[0] in first:
            bad.append(f"  line {number}: {parts[0]} again (first on line {first[parts[0]]})")
            continue
        first[parts[0]] = number
        entries.append((parts[0], int(parts[1])))
    if bad:
        raise ValueError(
            f"{path}: {len(bad)} malformed or repeated line(s), expected 'relative/path label' once per image:\n"
            + "\n".join(bad)
        )
    if not entries:
        raise ValueError(f"{path}: no entries")
    return entries


def read_name_list(path: Path) -> list[str]:
    """One name per line (subject lists of the face protocols); blank lines and ``#`` comments ignored."""
    names = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        fields = line.split("#")[0].split()
        if len(fields) > 1:
            raise ValueError(f"{path}:{number}: expected one name per line, found {line!r}")
        if fields and fields[0] in names:
            raise ValueError(f"{path}:{number}: {fields[0]} is listed twice")
        names += fields
    if not names:
        raise ValueError(f"{path}: the list is empty")
    return names


def relabel(records: list[Record]) -> list[Record]:
    """Training labels 0..N-1 in sorted order of the original identities."""
    mapping = {pid: label for label, pid in enumerate(sorted({r.pid for r in records}))}
    return [r._replace(pid=mapping[r.pid]) for r in records]

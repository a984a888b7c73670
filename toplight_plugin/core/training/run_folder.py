"""Output folders that one run owns and no tool clobbers.

A run holds an exclusive lock on its folder (``fcntl.flock`` on ``<folder>/.lock``, which records the holder's pid,
host and start time): a second run into the same folder is refused instead of interleaving its checkpoints and log
with the first. The kernel drops the lock when the holder's process ends, however it ends, so a lock left by a killed
run never blocks. A fresh run into a folder that already holds a run's files is refused unless it resumes or is told
to overwrite, and no tool writes its output onto one of its own inputs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

LOCK = ".lock"
CONFIG = "config.yaml"
RESULTS = "results.json"
# toplight-train / toplight-pretrain checkpoints, torchreid's own (toplight-reference), pretraining's results
CHECKPOINTS = ("last.pth", "epoch-*.pth", "model/model.pth.tar-*", "soup.pth", "sp.pth")


def _holder(fd: int) -> str:
    text = os.pread(fd, 300, 0).decode(errors="replace").strip()
    return text or "holder unknown"


def _still_named(fd: int, path: Path) -> bool:
    """The locked file is still the one at ``path`` (its previous holder may have removed it meanwhile)."""
    try:
        return os.fstat(fd).st_ino == path.stat().st_ino
    except FileNotFoundError:
        return False


@contextlib.contextmanager
def locked(folder: str | Path, option: str = "data.save_dir") -> Iterator[Path]:
    """Hold ``folder`` (created if needed) for the duration; another holder -> FileExistsError naming it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise FileExistsError(
                f"{option} {folder} is in use by another run ({holder}); wait for it to end or choose another "
                f"{option}"
            ) from None
        if _still_named(fd, path):
            break
        os.close(fd)
    started = time.strftime("%Y-%m-%d %H:%M:%S")
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()}, started {started}\n".encode(), 0)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)  # while still held, so a run that opened it meanwhile retries on a fresh file
        os.close(fd)


def run_files(folder: str | Path, results: bool = True) -> list[Path]:
    """The files of a run already in ``folder``: checkpoints and (``results``) its results.json, sorted."""
    patterns = (*CHECKPOINTS, RESULTS) if results else CHECKPOINTS
    return sorted({p for pattern in patterns for p in Path(folder).glob(pattern) if p.is_file()})


def refuse_fresh_run(folder: str | Path, resume: bool | None, overwrite: bool | None,
                     option: str = "data.save_dir") -> None:  # fmt: skip
    """A run that neither resumes nor overwrites may not start in a folder holding another run's files; None: the
    tool has no such option, and the message does not offer it."""
    found = [] if resume or overwrite else run_files(folder)
    if found:
        names = ", ".join(str(p.relative_to(folder)) for p in found[:3]) + (" ..." if len(found) > 3 else "")
        ways = ["continue it with --resume"] * (resume is not None)
        ways += ["start afresh over it with --overwrite"] * (overwrite is not None)
        raise FileExistsError(f"{option} {folder} already holds a run ({names}): " + ", ".join(ways)
                              + f"{', or' if ways else ''} choose another {option}")  # fmt: skip


def clear(folder: str | Path) -> list[Path]:
    """Delete the run files of ``folder`` (what ``--overwrite`` replaces), so no old checkpoint mixes with new ones."""
    found = run_files(folder)
    for path in found:
        path.unlink(missing_ok=True)
    return found


def refuse_foreign_results(folder: str | Path, weights: str | Path, overwrite: bool,
                           option: str = "data.save_dir") -> None:  # fmt: skip
    """An evaluation replaces ``results.json`` only in the folder of the checkpoint it evaluates (that run's own
    figures) or when told to overwrite; any other folder's results belong to another run."""
    folder = Path(folder)
    if overwrite or not (folder / RESULTS).is_file() or Path(weights).resolve().parent == folder.resolve():
        return
    raise FileExistsError(
        f"{option} {folder} already holds {RESULTS} of another run (--weights {weights} is not in that folder): "
        f"choose another {option} or replace it with --overwrite"
    )


def write_config(folder: str | Path, text: str, replace: bool = True) -> Path | None:
    """Write ``config.yaml``; with ``replace`` False only into a folder that has none (an evaluation in a training
    run's folder keeps that run's config)."""
    path = Path(folder) / CONFIG
    if path.exists() and not replace:
        return None
    path.write_text(text)
    return path


def _same(a: Path, b: Path) -> bool:
    if a.exists() and b.exists():
        return os.path.samefile(a, b)
    return a.resolve() == b.resolve()


def refuse_own_input(output: str | Path, inputs: dict[str, str | Path], option: str = "--output") -> None:
    """``output`` must not be (a link to) one of the tool's ``inputs`` ({option: path}), which it would replace, nor
    a run's existing checkpoint."""
    for name, path in inputs.items():
        if path and _same(Path(output), Path(path)):
            raise FileExistsError(f"{option} {output} is the file {name} reads; write the output to another file")
    if Path(output).is_file() and any(Path(output).match(pattern) for pattern in CHECKPOINTS):
        raise FileExistsError(f"{option} {output} is a run's checkpoint; write the output to another file")


def refuse_run_folder(folder: str | Path, writes: str, option: str = "--output") -> None:
    """A tool's output folder must not be a training or test run's folder, whose ``writes`` it would replace."""
    folder = Path(folder)
    marks = [p for p in (folder / CONFIG, folder / LOCK) if p.exists()] + run_files(folder, results=False)
    if marks:
        raise FileExistsError(
            f"{option} {folder} is the folder of a run ({marks[0].name}); writing {writes} there would replace that "
            f"run's files: choose another {option}"
        )

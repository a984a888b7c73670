"""The text log torchreid's scripts write: everything printed also goes to ``<save_dir>/<kind>.log-<time>``, the
name and format its ``tools/parse_test_res.py`` reads (``test.log*``, one folder per split); opened by a training
once it holds its folder."""

from __future__ import annotations

import contextlib
import sys
import time
from pathlib import Path

from toplight_plugin.core.training import run_folder


class _Tee:
    def __init__(self, *streams):
        self.streams = streams

    def write(self, text: str) -> int:
        for stream in self.streams:
            stream.write(text)
        return len(text)

    def flush(self) -> None:
        for stream in self.streams:
            stream.flush()

    def isatty(self) -> bool:
        return self.streams[0].isatty()


@contextlib.contextmanager
def text_log(save_dir: str | Path, kind: str):
    """Print to the console and to ``<save_dir>/<kind>.log-<YYYY-mm-dd-HH-MM-SS>`` (kind: train / test)."""
    path = Path(save_dir) / f"{kind}.log{time.strftime('-%Y-%m-%d-%H-%M-%S')}"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as log, contextlib.redirect_stdout(_Tee(sys.stdout, log)):
        yield path


@contextlib.contextmanager
def run_log(save_dir: str | Path, kind: str, resume: bool, overwrite: bool | None = None):
    """A training's hold on ``save_dir``: its lock, then the refusal to start afresh over another run's files
    (run_folder; ``overwrite`` None: the tool has no ``--overwrite``), then the text log; the lock is released when
    the run ends."""
    with run_folder.locked(save_dir):
        run_folder.refuse_fresh_run(save_dir, resume, overwrite)
        with text_log(save_dir, kind) as path:
            yield path

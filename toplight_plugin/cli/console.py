"""What the console scripts and ``tools/*.py`` run: a tool's ``main`` (which returns its results to Python
callers), exit status 0 on success, and a user's mistake (a bad path, config key or value) as one line on stderr
with exit status 2 instead of a traceback, also when it was raised in a DataLoader worker (torch re-raises it with
the worker's traceback as its text). ``TOPLIGHT_TRACEBACK=1`` shows the traceback. A reader that stops reading
(``toplight-config | head -1``) ends the tool quietly with status 141, as a command killed by SIGPIPE."""

from __future__ import annotations

import importlib
import os
import re
import sys

from toplight_plugin.core.data.images import BadImageError
from toplight_plugin.core.training.checkpoint import DiskFullError

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, FileExistsError, NotADirectoryError, IsADirectoryError,
               PermissionError, FloatingPointError, DiskFullError, BadImageError)  # fmt: skip
TOOLS = ("bench_eval", "bench_loader", "benchmark", "compare", "config", "curves", "demo", "deploy_eval", "export_onnx",
         "fastreid", "flops", "gpu_smoke", "gradcam", "make_synthetic", "pretrain_top", "reference", "resize_copy",
         "search", "show_augs", "soup", "splits", "test", "top_ablation", "train", "tsne")  # fmt: skip
WORKER = re.compile(r"Caught \w+ in DataLoader worker process \d+\.\nOriginal Traceback")
SIGPIPE_STATUS = 141  # 128 + SIGPIPE


def message(error: BaseException) -> str:
    """The user's message of ``error``: from a DataLoader worker, the text after the traceback's last line that
    names the exception (the original message, which names the file)."""
    text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
    if WORKER.match(text):
        starts = [m.end() for m in re.finditer(rf"^(?:[\w.]+\.)?{type(error).__name__}: ", text, re.M)]
        text = text[starts[-1] :].strip() if starts else text
        if isinstance(error, KeyError):
            text = text.strip("'\"")
    return text


def run(tool: str, argv: list[str] | None = None) -> int:
    """Run ``toplight_plugin.cli.<tool>.main(argv)``; the exit status."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
    try:
        importlib.import_module(f"toplight_plugin.cli.{tool}").main(argv)
        sys.stdout.flush()  # here, where a closed pipe can still be caught
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # the interpreter's last flush stays quiet
        return SIGPIPE_STATUS
    except USER_ERRORS as error:
        if os.environ.get("TOPLIGHT_TRACEBACK"):
            raise
        print(f"{os.path.basename(sys.argv[0]) or tool}: error: {message(error)}", file=sys.stderr)
        return 2
    return 0


def _entry(tool: str):
    def entry() -> int:
        return run(tool)

    entry.__name__ = entry.__qualname__ = tool
    return entry


for _tool in TOOLS:
    globals()[_tool] = _entry(_tool)

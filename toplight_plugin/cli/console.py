"""What the console scripts and ``tools/*.py`` run: a tool's ``main`` (which returns its results to Python
callers), exit status 0 on success, and a user's mistake (a bad path, config key or value) as one line on stderr
with exit status 2 instead of a traceback. ``TOPLIGHT_TRACEBACK=1`` shows the traceback."""

from __future__ import annotations

import importlib
import os
import sys

from toplight_plugin.core.checkpoint import DiskFullError
from toplight_plugin.core.data.images import BadImageError

USER_ERRORS = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError,
               FloatingPointError, DiskFullError, BadImageError)  # fmt: skip
TOOLS = ("bench_eval", "benchmark", "compare", "config", "curves", "demo", "export_onnx", "flops", "gradcam",
         "make_synthetic", "pretrain_top", "reference", "search", "show_augs", "soup", "splits", "test", "train",
         "tsne")  # fmt: skip


def run(tool: str, argv: list[str] | None = None) -> int:
    """Run ``toplight_plugin.cli.<tool>.main(argv)``; the exit status."""
    if tool not in TOOLS:
        raise ValueError(f"unknown tool {tool!r}; expected one of {TOOLS}")
    try:
        importlib.import_module(f"toplight_plugin.cli.{tool}").main(argv)
    except USER_ERRORS as error:
        if os.environ.get("TOPLIGHT_TRACEBACK"):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"{os.path.basename(sys.argv[0]) or tool}: error: {message}", file=sys.stderr)
        return 2
    return 0


def _entry(tool: str):
    def entry() -> int:
        return run(tool)

    entry.__name__ = entry.__qualname__ = tool
    return entry


for _tool in TOOLS:
    globals()[_tool] = _entry(_tool)

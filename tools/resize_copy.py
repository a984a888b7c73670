"""A pre-resized copy of a dataset folder (also the console script ``toplight-resize-copy``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("resize_copy"))

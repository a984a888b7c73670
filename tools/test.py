"""Evaluate a checkpoint with the published protocols (also the console script ``toplight-test``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("test"))

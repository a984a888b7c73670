"""Accuracy beside FLOPs, parameters and CPU speed for a set of runs (also the console script ``toplight-compare``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("compare"))

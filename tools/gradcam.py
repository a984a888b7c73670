"""Grad-CAM maps before and after the FDR module (also the console script ``toplight-gradcam``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("gradcam"))

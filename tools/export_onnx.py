"""Export a model to ONNX with a parity check (also the console script ``toplight-export``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("export_onnx"))

"""CPU benchmark of every TOPLight variant against AGW ResNet-50 (also the console script ``toplight-benchmark``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("benchmark"))

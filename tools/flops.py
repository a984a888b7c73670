"""Print the FLOPs table of every TOPLight variant (also the console script ``toplight-flops``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("flops"))

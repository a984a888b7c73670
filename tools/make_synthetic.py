"""Write the synthetic datasets (also the console script ``toplight-make-synthetic``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("make_synthetic"))

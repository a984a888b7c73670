"""Learning curves of training runs as a PNG (also the console script ``toplight-curves``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("curves"))

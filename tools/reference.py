"""Train and test a stock torchreid model on a plugin dataset (also the console script ``toplight-reference``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("reference"))

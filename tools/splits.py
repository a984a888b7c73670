"""One model per split, tested, with per-split and mean ± std tables (also the console script ``toplight-splits``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("splits"))

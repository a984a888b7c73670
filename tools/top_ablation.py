"""Table 3's TOP ablation on synthetic data (also the console script ``toplight-top-ablation``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("top_ablation"))

"""Task-oriented pretraining and soup (also the console script ``toplight-pretrain``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("pretrain_top"))

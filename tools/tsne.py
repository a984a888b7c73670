"""Fig. 4 style t-SNE of features (also the console script ``toplight-tsne``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("tsne"))

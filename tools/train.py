"""Train a TOPLight model through torchreid's engine (also the console script ``toplight-train``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("train"))

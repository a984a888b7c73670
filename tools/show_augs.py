"""Fig. 3 style grid of the task-oriented augmentations (also the console script ``toplight-show-augs``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("show_augs"))

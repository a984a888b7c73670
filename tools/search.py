"""Search a gallery with images of the other modality (also the console script ``toplight-search``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("search"))

"""The configs shipped with the plugin (also the console script ``toplight-config``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("config"))

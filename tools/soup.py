"""Merge the two pre-embedding groups of a TOP checkpoint (also the console script ``toplight-soup``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("soup"))

"""Run the demo on synthetic data (what `make demo` runs)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("demo"))

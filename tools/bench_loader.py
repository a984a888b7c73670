"""Loader throughput per worker, VI and TOP pipelines (also the console script ``toplight-bench-loader``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("bench_loader"))

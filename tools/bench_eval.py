"""Time the evaluator against torchreid's ``evaluate_rank`` (also the console script ``toplight-bench-eval``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("bench_eval"))

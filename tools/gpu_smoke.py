"""The GPU smoke check: training steps per precision with device syncs counted, DDP over NCCL, loader throughput
(docs/training.md, "On GPUs")."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("gpu_smoke"))

"""SYSU-MM01 all-search through exported graphs, FP32 / INT8 / BF16 against a float32 reference (also the console
script ``toplight-deploy-eval``)."""

import sys

from toplight_plugin.cli.console import run

if __name__ == "__main__":
    sys.exit(run("deploy_eval"))

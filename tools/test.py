"""Evaluate a checkpoint with the published protocols (also the console script ``toplight-test``)."""

from toplight_plugin.cli.test import main

if __name__ == "__main__":
    main()

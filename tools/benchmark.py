"""CPU benchmark of every TOPLight variant against AGW ResNet-50 (also the console script ``toplight-benchmark``)."""

from toplight_plugin.cli.benchmark import main

if __name__ == "__main__":
    main()

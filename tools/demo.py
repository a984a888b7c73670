"""Run the demo on synthetic data (what `make demo` runs)."""

from toplight_plugin.cli.demo import main

if __name__ == "__main__":
    main()

"""Write the synthetic datasets (also the console script ``toplight-make-synthetic``)."""

from toplight_plugin.cli.make_synthetic import main

if __name__ == "__main__":
    main()

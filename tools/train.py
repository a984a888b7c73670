"""Train a TOPLight model through torchreid's engine (also the console script ``toplight-train``)."""

from toplight_plugin.cli.train import main

if __name__ == "__main__":
    main()
